"""Reading admin pages in tests: the rows of a table, the rows of a changelist.

Assert on these rather than on text anywhere in the page: a page prints labels, filters and
help texts that contain the same words whether or not the right rows are there.
"""

import lxml.html


def table_rows(content: str | bytes, xpath: str) -> list[list[str]]:
    """The text of each cell (th or td) of each body row of the table(s) at `xpath`, whitespace
    collapsed. Header rows (in thead) are left out."""
    document = lxml.html.fromstring(content)
    rows = []
    for table in document.xpath(xpath):
        for row in table.xpath("./tbody/tr | ./tr"):
            rows.append([" ".join(cell.text_content().split()) for cell in row.xpath("./th | ./td")])
    return rows


def texts(content: str | bytes, xpath: str) -> list[str]:
    """The text of each element at `xpath`, whitespace collapsed."""
    return [" ".join(element.text_content().split()) for element in lxml.html.fromstring(content).xpath(xpath)]


def changelist_rows(response) -> list:
    """The objects a changelist page lists, in its order."""
    return list(response.context_data["cl"].result_list)

"""Reading admin pages in tests: the rows of a table, the rows of a changelist, an element's text.

Assert on these rather than on text anywhere in the page: a page prints labels, filters and
help texts that contain the same words whether or not the right rows are there.
"""

import lxml.html


def _document(content: str | bytes):
    # Django's pages are UTF-8; lxml would read bytes without a declared charset as Latin-1.
    return lxml.html.fromstring(content.decode() if isinstance(content, bytes) else content)


def table_rows(content: str | bytes, xpath: str) -> list[list[str]]:
    """The text of each cell (th or td) of each body row of the table(s) at `xpath`, whitespace
    collapsed. Header rows (in thead) are left out."""
    rows = []
    for table in _document(content).xpath(xpath):
        for row in table.xpath("./tbody/tr | ./tr"):
            rows.append([" ".join(cell.text_content().split()) for cell in row.xpath("./th | ./td")])
    return rows


def texts(content: str | bytes, xpath: str) -> list[str]:
    """The text of each element at `xpath` (or each attribute value, for an xpath ending in /@name),
    whitespace collapsed."""
    found = _document(content).xpath(xpath)
    return [" ".join((item if isinstance(item, str) else item.text_content()).split()) for item in found]


def result_rows(content: str | bytes) -> list[dict[str, str]]:
    """Each row of a changelist's result table, in its order, as {column: text}: columns are named
    as in the ModelAdmin's list_display (the cells' field-<name> classes)."""
    rows = []
    for row in _document(content).xpath('//table[@id="result_list"]/tbody/tr'):
        cells = {}
        for cell in row.xpath("./th | ./td"):
            for css_class in (cell.get("class") or "").split():
                if css_class.startswith("field-"):
                    cells[css_class.removeprefix("field-")] = " ".join(cell.text_content().split())
        rows.append(cells)
    return rows

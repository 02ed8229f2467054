"""Geometry checks for admin pages: is everything on the page reachable at a given window width?

Content is reachable when it lies inside the window, or inside a box that scrolls (overflow-x
auto or scroll) which itself is reachable. It is cut off when a box that hides its overflow
(overflow-x hidden or clip, like Django's .form-row) ends before it does: no scroll bar leads there.
"""

VIEWPORT = {"width": 1280, "height": 900}  # the window tests start with
WIDTHS = (1280, 1440, 1920)  # common laptop and desktop windows

# For every element of the page's content, the nearest ancestor that clips or scrolls it; the
# element is cut off when that ancestor clips and the element reaches past its edges.
_CUT_OFF = """() => {
  const cut = [];
  for (const element of document.querySelectorAll('#content *')) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    for (let parent = element.parentElement; parent; parent = parent.parentElement) {
      const overflow = getComputedStyle(parent).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') break;
      if (overflow === 'hidden' || overflow === 'clip') {
        const edge = parent.getBoundingClientRect();
        if (box.right > edge.right + 1 || box.left < edge.left - 1) {
          const text = (element.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
          cut.push(`<${element.tagName.toLowerCase()} class="${element.className}"> ${text}`);
        }
        break;
      }
    }
  }
  return cut;
}"""


def cut_off_elements(page) -> list[str]:
    """Elements of #content that a box hiding its overflow cuts off, described for a failure message."""
    return page.evaluate(_CUT_OFF)


def page_overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling of the page)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def assert_all_reachable(page, where: str) -> None:
    """Nothing is cut off, and the page itself does not scroll sideways: wide content scrolls in its own box."""
    cut = cut_off_elements(page)
    assert cut == [], f"{where}: cut off with no scroll bar: {cut[:5]}"
    assert page_overflow(page) <= 0, f"{where}: the page is {page_overflow(page)} px wider than the window"


def assert_in_window(page, locator, where: str) -> None:
    """The element lies wholly inside the window's width: seen without scrolling sideways."""
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None, f"{where}: not displayed"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{where}: {box} is outside the {width} px window"

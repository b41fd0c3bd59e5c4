"""Reading the dashboard's page as a test needs it: figures and table rows."""

import ast
from html.parser import HTMLParser


def figures(html: str) -> dict:
    """The headline figures: name -> exact value (from each figure's data-value)."""
    found = _Elements(html, "data-figure")
    return {attrs["data-figure"]: ast.literal_eval(attrs["data-value"]) for attrs in found.items}


def table(html: str, section: str) -> list[list[str]]:
    """The body rows of the table in the element of id `section`, as cell texts."""
    parser = _Table(section)
    parser.feed(html)
    return parser.rows


def number(text: str) -> int:
    return int(text.replace(",", ""))


class _Elements(HTMLParser):
    def __init__(self, html: str, attribute: str):
        super().__init__()
        self.attribute, self.items = attribute, []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.attribute in attrs:
            self.items.append(attrs)


class _Table(HTMLParser):
    def __init__(self, section: str):
        super().__init__()
        self.section, self.depth, self.rows = section, 0, []
        self.in_body = self.in_cell = False

    def handle_starttag(self, tag, attrs):
        if dict(attrs).get("id") == self.section:
            self.depth = 1
        elif self.depth:
            self.depth += tag not in ("br", "input")
            if tag == "tbody":
                self.in_body = True
            elif tag == "tr" and self.in_body:
                self.rows.append([])
            elif tag == "td" and self.in_body:
                self.rows[-1].append("")
                self.in_cell = True

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1
            self.in_body = self.in_body and tag != "tbody"
            self.in_cell = self.in_cell and tag != "td"

    def handle_data(self, data):
        if self.in_cell:
            self.rows[-1][-1] += data.strip()

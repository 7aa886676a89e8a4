"""The JUnit XML document ``check`` and ``test`` write: suites of cases, each passed, failed
or skipped (the schema CI systems read; tests/schemas holds the XSD the tests validate with)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JUnitCase:
    name: str
    classname: str
    failure: tuple[str, str] | None = None  # (message, text)
    failure_type: str | None = None
    skipped: str | None = None  # the reason
    output: str | None = None  # system-out
    attributes: dict[str, str] = field(default_factory=dict)  # file, line, time


@dataclass
class JUnitSuite:
    name: str
    cases: list[JUnitCase] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # errors, time

    @property
    def counts(self) -> dict[str, str]:
        return {
            "tests": str(len(self.cases)),
            "failures": str(sum(c.failure is not None for c in self.cases)),
            "skipped": str(sum(c.skipped is not None for c in self.cases)),
        }


def render(suites: list[JUnitSuite], *, name: str | None = None, totals: bool = False) -> str:
    """``<testsuites>`` (named, and with summed counts when ``totals``) around the suites."""
    import xml.etree.ElementTree as ET  # only JUnit output needs it (and its import)

    root = ET.Element("testsuites", {"name": name} if name else {})
    for suite in suites:
        element = ET.SubElement(root, "testsuite", {"name": suite.name, **suite.counts})
        for key, value in suite.attributes.items():
            element.set(key, value)
        for case in suite.cases:
            item = ET.SubElement(
                element,
                "testcase",
                {"classname": case.classname, "name": case.name, **case.attributes},
            )
            if case.failure is not None:
                failure = ET.SubElement(item, "failure", message=case.failure[0])
                if case.failure_type:
                    failure.set("type", case.failure_type)
                failure.text = case.failure[1]
            if case.skipped is not None:
                ET.SubElement(item, "skipped", message=case.skipped)
            if case.output is not None:
                ET.SubElement(item, "system-out").text = case.output
    if totals:
        for key in ("tests", "failures", "skipped"):
            root.set(key, str(sum(int(s.counts[key]) for s in suites)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)

"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) for UI tests, and
the accessibility checks run in it. No browser is downloaded: Selenium is given the system
binaries, so Selenium Manager never runs."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MLGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MLGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("MLGATE_UI_OUT", REPO / "build" / "test-output" / "ui"))


def require_browser() -> None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).exists() or shutil.which(path)):
            pytest.skip(f"needs Debian's {package} at {path} (make system-deps installs it)")


def spki_pin(cert_pem: Path) -> str:
    """Chromium's --ignore-certificate-errors-spki-list value: trust exactly this key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def start_browser(*, pinned_cert: Path | None = None) -> Any:
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",  # nothing but the page under test leaves the box
    ):
        options.add_argument(arg)
    if pinned_cert is not None:
        options.add_argument(f"--ignore-certificate-errors-spki-list={spki_pin(pinned_cert)}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # A page after a form post can take seconds while the other xdist worker loads the CPU:
    # lookups wait for the element instead of failing on the first try.
    driver.implicitly_wait(15)
    return driver


def screenshot(driver: Any, name: str) -> Path:
    """A full-page PNG into the test output (MLGATE_UI_OUT, default build/test-output/ui)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, max(600, min(height + 40, 12000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    assert path.stat().st_size > 5000, f"screenshot {path} is (nearly) empty"
    return path


# Runs in the page: returns a list of problems (empty = passes).
A11Y_SCRIPT = r"""
const problems = [];
if (!document.documentElement.lang) problems.push('html has no lang');
if (!document.title.trim()) problems.push('page has no title');
const headings = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')];
if (document.querySelectorAll('h1').length !== 1) problems.push('expected exactly one h1');
let previous = 0;
for (const h of headings) {
  const level = Number(h.tagName[1]);
  if (previous && level > previous + 1) problems.push(`heading level skips: ${h.tagName} "${h.textContent.trim().slice(0, 40)}"`);
  if (!h.textContent.trim()) problems.push(`empty ${h.tagName}`);
  previous = level;
}
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden' || el.type === 'submit') continue;
  if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push(`unlabelled ${el.tagName} #${el.id || el.name}`);
}
for (const th of document.querySelectorAll('thead th')) {
  if (th.getAttribute('scope') !== 'col') problems.push('table header without scope=col');
}
for (const svg of document.querySelectorAll('svg')) {
  if (svg.getAttribute('role') !== 'img' || !svg.getAttribute('aria-label')) problems.push('svg chart without role=img and aria-label');
}
function rgb(text) {
  const m = text.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(',').map(Number);
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
}
function luminance(c) {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function background(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) return c;
  }
  return {r: 255, g: 255, b: 255, a: 1};
}
let checked = 0;
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || el.closest('svg')) continue;
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden') continue;
  const fg = rgb(style.color), bg = background(el);
  const l1 = luminance(fg), l2 = luminance(bg);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
  const large = size >= 24 || (bold && size >= 18.66);
  checked++;
  if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} < ${large ? 3 : 4.5}: ${el.tagName} "${el.textContent.trim().slice(0, 30)}"`);
}
if (!checked) problems.push('no text checked for contrast');
return [...new Set(problems)];
"""

# Every resource the page loaded must come from the page's own origin (or be inline).
ASSETS_SCRIPT = r"""
const origin = location.origin;
return performance.getEntriesByType('resource').map(e => e.name)
  .filter(n => !(n.startsWith(origin) || n.startsWith('data:')));
"""


def accessibility_problems(driver: Any) -> list[str]:
    return list(driver.execute_script(A11Y_SCRIPT))


def foreign_assets(driver: Any) -> list[str]:
    return list(driver.execute_script(ASSETS_SCRIPT))

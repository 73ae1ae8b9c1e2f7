"""Debian's Chromium driven by Playwright, and one person's browser in it, for the pages' tests."""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect
from support import AGENT_PASSWORD

BIN = Path(sys.executable).parent
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# The WCAG 2.1 A and AA rules that axe checks automatically (RGAA 4 follows WCAG 2.1 AA).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class Agent:
    """One person in their own browser context; keeps the page's console errors."""

    def __init__(self, browser: Browser, base: str, name: str) -> None:
        self.context: BrowserContext = browser.new_context(
            base_url=base, locale="fr-FR", accept_downloads=True
        )
        # Loaded by the browser itself before each page's scripts, so the page's CSP still holds.
        self.context.add_init_script(path=AXE)
        self.page: Page = self.context.new_page()
        self.name = name
        self.console_errors: list[str] = []
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )

    def sign_in(self, login: str) -> None:
        """Sign in with the keyboard only: field to field with Tab, Enter to send."""
        self.page.goto("/")
        expect(self.page).to_have_url("/connexion")
        self.page.focus("#identifiant")
        self.page.keyboard.type(login)
        self.page.keyboard.press("Tab")
        assert self.page.evaluate("document.activeElement.id") == "mot_de_passe"
        self.page.keyboard.type(AGENT_PASSWORD)
        self.page.keyboard.press("Enter")
        expect(self.page.locator("#agent-connecte")).to_contain_text(login)

    def accessibility_problems(self) -> list[str]:
        """Run axe-core's WCAG 2.1 AA checks on the current page; describe each violation."""
        found = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
            ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' ')))",
            AXE_TAGS,
        )
        return [f"{self.page.url} {problem}" for problem in found]

    def shot(self, step: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{step}.png", full_page=True)

    def close(self) -> None:
        self.context.close()

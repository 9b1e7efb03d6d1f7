"""The analyst page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium): what a person
sees after pasting a post, and how a high-risk answer with evidence is shown."""

import os
import shutil
from pathlib import Path

import httpx
import pytest

from conftest import TOKEN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian chromium + chromium-driver are not installed")
POST = "我每天都睡不着，觉得自己是家里的负担，有时候想一了百了。<b>不是粗体</b>"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,1300", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> None:
    folder = os.environ.get("MENTALGLM_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def _wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def test_pasting_a_post_shows_one_card_per_picked_task(served, browser):
    from selenium.webdriver.common.by import By

    main, _, _ = served
    browser.get(main + "/")
    _wait(browser, lambda d: "mentalglm-tiny-serve" in d.find_element(By.ID, "model").text)
    token = browser.find_element(By.ID, "token")
    assert token.is_displayed()  # the server requires a token, so the page asks for one
    token.send_keys(TOKEN)
    browser.find_element(By.ID, "post").send_keys(POST)
    browser.find_element(By.CSS_SELECTOR, "input[value=cognitive_distortion]").click()  # untick one task
    browser.find_element(By.ID, "analyze").click()
    cards = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
    assert [c.get_attribute("data-task") for c in cards] == ["suicide_risk", "suicide_level"]

    api = httpx.post(f"{main}/v1/analyze", json={"post": POST, "task": ["suicide_risk", "suicide_level"]},
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60).json()
    for card, result in zip(cards, api["results"]):
        shown = [x.text for x in card.find_elements(By.CSS_SELECTOR, ".label")]
        assert shown == [f"{label} 级" if result["task"] == "suicide_level" else label
                         for label in result["labels"]]
        if not result["parse_ok"]:
            assert "could not be parsed" in card.text and "no label found" in card.text
    assert browser.find_element(By.ID, "alert").is_displayed() == any(r["risk_alert"] for r in api["results"])
    assert browser.find_element(By.ID, "post-view").text == POST  # markup in the post stays text
    assert "mentalglm-tiny-serve" in browser.find_element(By.ID, "status").text
    _screenshot(browser, "analyst-page-tiny-model.png")


def test_high_risk_answer_shows_the_alert_and_highlights_evidence(served, browser):
    from selenium.webdriver.common.by import By

    main, _, _ = served
    browser.get(main + "/")
    response = {"model": "mentalglm-demo", "latency_ms": 812.4, "results": [
        {"task": "suicide_risk", "labels": ["高自杀风险"], "explanation": "发帖人说“想一了百了”，并提到“是家里的负担”。",
         "evidence": ["想一了百了", "是家里的负担"], "risk_alert": True, "raw": "…", "parse_ok": True},
        {"task": "cognitive_distortion", "labels": ["读心术", "乱贴标签"], "explanation": "认为自己“是家里的负担”。",
         "evidence": ["是家里的负担"], "risk_alert": False, "raw": "…", "parse_ok": True},
        {"task": "suicide_level", "labels": ["7"], "explanation": "提到“<script>alert(1)</script>”。",
         "evidence": [], "risk_alert": True, "raw": "…", "parse_ok": True}]}
    browser.execute_script("window.renderResults(arguments[0], arguments[1])", response, POST)
    alert = browser.find_element(By.ID, "alert")
    assert alert.is_displayed()
    assert "High suicide risk" in alert.text and "高自杀风险" in alert.text and "7 级" in alert.text
    risk = browser.find_element(By.CSS_SELECTOR, ".card[data-task=suicide_risk]")
    assert [m.text for m in risk.find_elements(By.CSS_SELECTOR, ".explanation mark")] == ["想一了百了", "是家里的负担"]
    assert "label high" in risk.find_element(By.CSS_SELECTOR, ".label").get_attribute("class")
    distortion = browser.find_element(By.CSS_SELECTOR, ".card[data-task=cognitive_distortion]")
    assert [x.text for x in distortion.find_elements(By.CSS_SELECTOR, ".label")] == ["读心术", "乱贴标签"]
    marked = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#post-view mark")]
    assert sorted(marked) == ["想一了百了", "是家里的负担"]
    level = browser.find_element(By.CSS_SELECTOR, ".card[data-task=suicide_level]")
    assert "<script>alert(1)</script>" in level.text  # model output is shown as text, never run
    assert not browser.find_elements(By.CSS_SELECTOR, "#results script")
    _screenshot(browser, "analyst-page-high-risk.png")


def test_page_reports_errors_instead_of_results(served, browser):
    from selenium.webdriver.common.by import By

    main, _, cfg = served
    browser.get(main + "/")
    _wait(browser, lambda d: "/ " in d.find_element(By.ID, "count").text)
    browser.find_element(By.ID, "analyze").click()
    assert "Paste a post first" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "post").send_keys("好累")
    browser.find_element(By.ID, "analyze").click()  # no token typed: the server answers 401
    _wait(browser, lambda d: "401" in d.find_element(By.ID, "status").text)
    assert not browser.find_elements(By.CSS_SELECTOR, "#results .card")

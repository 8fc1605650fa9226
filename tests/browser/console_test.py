"""The operator console in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium, run by tests/tests/e2e/console.rs against a real server with a pending device authorization.

Environment: CONSOLE_LOGIN_URL (a fresh one-time link from `auth4agent console`), CONSOLE_ISSUER, CONSOLE_USER_CODE
(the pending request), CONSOLE_UNTICK (a requested scope to untick before approving), CONSOLE_SCREENSHOTS (a
directory for PNG screenshots of the pages). Prints one JSON document of what it saw; exits non-zero on the first
failed check.
"""

import json
import os
import sys
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

LOGIN_URL = os.environ["CONSOLE_LOGIN_URL"]
ISSUER = os.environ["CONSOLE_ISSUER"].rstrip("/")
USER_CODE = os.environ["CONSOLE_USER_CODE"]
UNTICK = os.environ["CONSOLE_UNTICK"]
SHOTS = os.environ["CONSOLE_SCREENSHOTS"]

seen = {}


def check(condition, what):
    if not condition:
        print(json.dumps(seen, indent=2))
        sys.exit(f"check failed: {what}\nurl: {driver.current_url}\npage:\n{driver.page_source[:3000]}")


def shot(name):
    driver.save_screenshot(os.path.join(SHOTS, f"console-{name}.png"))


def text():
    return driver.find_element(By.TAG_NAME, "body").text


def after_navigation(element_id):
    """The element of the page a click or a script's submit leads to, once that page has loaded (a find right
    after the click can still see the old page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, element_id))


def forge(form_selector, csrf):
    """Submits a console form as a forged one would arrive: the session cookie, but the CSRF field removed
    (csrf None) or replaced. (A script cannot post from the page itself: its CSP has no connect-src.)"""
    driver.execute_script(
        """
        const [selector, csrf] = arguments;
        const form = document.querySelector(selector);
        const field = form.querySelector("input[name=csrf]");
        if (csrf === null) field.remove(); else field.value = csrf;
        form.submit();
        """,
        form_selector,
        csrf,
    )
    return after_navigation("error-code").text


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1100,900", "--no-first-run"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_script_timeout(20)
try:
    # A page of the console without a session says how to sign in, and shows no request.
    driver.get(f"{ISSUER}/console/approve?user_code={USER_CODE}")
    check("auth4agent console" in text(), "the sign-in instructions")
    check(not driver.find_elements(By.CSS_SELECTOR, "form.approve"), "no decision form before sign-in")
    shot("sign-in")

    # The one-time link signs in and redirects: no secret stays in the address bar.
    driver.get(LOGIN_URL)
    url = urllib.parse.urlsplit(driver.current_url)
    seen["after_login"] = driver.current_url
    check(url.path == "/console" and "token" not in url.query, "redirected to /console without the token")
    check(driver.find_element(By.ID, "operator").text != "", "signed in as the operator")
    cookies = driver.get_cookies()
    seen["cookies"] = [{k: c.get(k) for k in ("name", "httpOnly", "sameSite", "secure", "path")} for c in cookies]
    session = [c for c in cookies if c["name"] == "auth4agent_console"]
    check(len(session) == 1, "one session cookie")
    check(session[0]["httpOnly"] and session[0]["sameSite"] == "Strict" and session[0]["path"] == "/",
          "the cookie is HttpOnly, SameSite=Strict, Path=/")
    check(USER_CODE in text(), "the pending request is listed")
    shot("approvals")

    # The link works once.
    driver.get(LOGIN_URL)
    check("login_link_used" in text(), "a second use of the link is refused")
    seen["second_use"] = driver.find_element(By.ID, "error-code").text
    shot("link-used")

    # A form post without the CSRF token (or with another session's) is refused and decides nothing.
    driver.get(f"{ISSUER}/console")
    seen["forged_approve"] = forge("form.approve", None)
    check(seen["forged_approve"] == "invalid_csrf_token", "approve without the CSRF token is refused")
    shot("csrf-refused")
    driver.get(f"{ISSUER}/console")
    seen["forged_deny"] = forge("form.deny", "not-the-token")
    check(seen["forged_deny"] == "invalid_csrf_token", "deny with another CSRF token is refused")
    driver.get(f"{ISSUER}/console")
    check(forge("#logout", None) == "invalid_csrf_token", "sign-out without the CSRF token is refused")
    driver.get(f"{ISSUER}/console")
    check(USER_CODE in text(), "the request is still pending after the forged posts")

    # A page of another origin cannot show the console in a frame.
    framing = ("data:text/html,<!doctype html><title>framing</title><h1>framing page</h1>"
               f"<iframe id='victim' src='{ISSUER}/console/approve?user_code={USER_CODE}' width=900 height=600>"
               "</iframe>")
    driver.get(framing)
    driver.implicitly_wait(0)
    import time
    time.sleep(1.5)
    frame = driver.find_element(By.ID, "victim")
    driver.switch_to.frame(frame)
    framed_text = driver.find_element(By.TAG_NAME, "body").text if driver.find_elements(By.TAG_NAME, "body") else ""
    framed_forms = driver.find_elements(By.CSS_SELECTOR, "form")
    framed_operator = driver.find_elements(By.ID, "operator")
    driver.switch_to.default_content()
    seen["framed_text"] = framed_text[:200]
    check(not framed_forms and not framed_operator and USER_CODE not in framed_text,
          "the console refuses to be framed")
    shot("framing-refused")

    # The approval page (verification_uri_complete): untick one scope, approve.
    driver.get(f"{ISSUER}/console/approve?user_code={USER_CODE}")
    box = driver.find_element(By.CSS_SELECTOR, f"input[type=checkbox][name='scope:{UNTICK}']")
    check(box.is_selected(), "every requested scope starts ticked")
    box.click()
    check(not box.is_selected(), "unticked")
    shot("approve")
    driver.find_element(By.CSS_SELECTOR, "form.approve button[type=submit]").click()
    decision = after_navigation("decision").text
    seen["decision"] = decision
    check("approved" in decision and UNTICK not in decision, "approved without the unticked scope")
    shot("decided")

    # The agents and the audit events.
    driver.get(f"{ISSUER}/console/agents")
    seen["agents"] = driver.find_element(By.ID, "agents").text
    shot("agents")
    driver.get(f"{ISSUER}/console/audit")
    audit = driver.find_element(By.ID, "audit").text
    check("device.approve" in audit and "method=browser_session" in audit, "the approval is audited as browser_session")
    check("console.login" in audit, "the login is audited")
    shot("audit")

    # Sign out: the session is gone on the server, not only the cookie.
    old = [c for c in driver.get_cookies() if c["name"] == "auth4agent_console"][0]
    driver.find_element(By.CSS_SELECTOR, "#logout button").click()
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.ID, "passkey-login"))
    check(urllib.parse.urlsplit(driver.current_url).path == "/console", "back at /console")
    check("auth4agent console" in text() and not driver.find_elements(By.ID, "logout"), "signed out")
    driver.add_cookie({"name": old["name"], "value": old["value"], "path": "/"})
    driver.get(f"{ISSUER}/console")
    check(not driver.find_elements(By.ID, "logout"), "the old session id no longer signs in")
    seen["signed_out"] = True
finally:
    driver.quit()

print(json.dumps(seen))

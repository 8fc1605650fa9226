"""Passkeys in the operator console: headless Chromium with Selenium's virtual authenticator (CTAP2, resident
keys, user verification), run by tests/tests/e2e/console.rs against a server whose issuer is a host name
(http://localhost:PORT: a WebAuthn RP ID cannot be an IP address), with a pending device authorization.

Environment: CONSOLE_LOGIN_URL, CONSOLE_ISSUER, CONSOLE_DOMAIN (the operator's), CONSOLE_USER_CODE,
CONSOLE_SCREENSHOTS. Prints one JSON document of what it saw; exits non-zero on the first failed check.
"""

import json
import os
import sys
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support.ui import WebDriverWait

LOGIN_URL = os.environ["CONSOLE_LOGIN_URL"]
ISSUER = os.environ["CONSOLE_ISSUER"].rstrip("/")
DOMAIN = os.environ["CONSOLE_DOMAIN"]
USER_CODE = os.environ["CONSOLE_USER_CODE"]
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


def wait_for(locator, what):
    try:
        return WebDriverWait(driver, 15).until(lambda d: d.find_element(*locator))
    except Exception:
        check(False, what)


def signed_in():
    return bool(driver.find_elements(By.ID, "logout"))


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1100,900", "--no-first-run"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    authenticator = VirtualAuthenticatorOptions()
    authenticator.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    authenticator.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    authenticator.has_resident_key = True
    authenticator.has_user_verification = True
    authenticator.is_user_verified = True
    authenticator.is_user_consenting = True
    driver.add_virtual_authenticator(authenticator)

    driver.get(LOGIN_URL)
    check(signed_in(), "signed in with the link")

    # Register a passkey.
    driver.get(f"{ISSUER}/console/passkeys")
    check(driver.find_elements(By.ID, "no-passkeys"), "no passkey yet")
    wait_for((By.ID, "register-passkey"), "the registration form").click()
    notice = wait_for((By.ID, "notice"), "the passkey is registered").text
    seen["registered"] = notice
    check("registered" in notice, "registered")
    credentials = driver.get_credentials()
    seen["authenticator_credentials"] = len(credentials)
    check(len(credentials) == 1, "the authenticator holds one credential")
    driver.get(f"{ISSUER}/console/passkeys")
    check(driver.find_elements(By.ID, "passkeys"), "the passkey is listed")
    shot("passkeys")

    # An approval without the WebAuthn step is refused once a passkey exists.
    driver.get(f"{ISSUER}/console/approve?user_code={USER_CODE}")
    button = driver.find_element(By.CSS_SELECTOR, "form.approve button[type=submit]")
    check("passkey" in button.text.lower(), "the approval asks for the passkey")
    shot("approve-passkey")
    driver.execute_script("document.querySelector('form.approve').submit()")  # the script's handler skipped
    seen["without_webauthn"] = wait_for((By.ID, "error-code"), "refused").text
    check(seen["without_webauthn"] == "passkey_required", "passkey_required without the assertion")
    driver.get(f"{ISSUER}/console/approve?user_code={USER_CODE}")
    driver.execute_script("""
        const form = document.querySelector('form.approve');
        form.querySelector('input[name=ceremony]').remove();
        form.querySelector('input[name=credential]').remove();
        form.submit();""")
    check(wait_for((By.ID, "error-code"), "refused").text == "passkey_required", "no ceremony fields: refused")

    # With the passkey: approved.
    driver.get(f"{ISSUER}/console/approve?user_code={USER_CODE}")
    driver.find_element(By.CSS_SELECTOR, "form.approve button[type=submit]").click()
    decision = wait_for((By.ID, "decision"), "decided with the passkey").text
    seen["decision"] = decision
    check("approved" in decision, "approved with the passkey")
    driver.get(f"{ISSUER}/console/audit")
    audit = driver.find_element(By.ID, "audit").text
    check("method=passkey" in audit and "passkey.register" in audit, "audited as passkey")

    # Sign out, then sign in with the passkey alone.
    driver.get(f"{ISSUER}/console")
    driver.find_element(By.CSS_SELECTOR, "#logout button").click()
    wait_for((By.ID, "passkey-login"), "signed out").click()
    check(not signed_in(), "signed out")
    wait_for((By.ID, "domain"), "the domain form").send_keys(DOMAIN)
    driver.find_element(By.CSS_SELECTOR, "form.code button[type=submit]").click()
    use = wait_for((By.ID, "use-passkey"), "the passkey form")
    shot("passkey-login")
    use.click()
    wait_for((By.ID, "logout"), "signed in with the passkey")
    check(urllib.parse.urlsplit(driver.current_url).path == "/console", "at /console")
    driver.get(f"{ISSUER}/console/audit")
    check("method=passkey session=" in driver.find_element(By.ID, "audit").text, "the passkey login is audited")
    seen["passkey_login"] = True
finally:
    driver.quit()

print(json.dumps(seen))

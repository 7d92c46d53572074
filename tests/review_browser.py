"""Drives the rajoints review UI in headless Chromium with real mouse and keyboard input.

Usage:
  review_browser.py --url http://127.0.0.1:PORT --user rev --password PW --film ID --screenshots DIR

Steps, each one asserted: /films/ID without a session lands on /login; log in; the worklist
shows the film's row; the film page draws (window.rajoints.ready); a box (R-PIP2, or the first
one present) is dragged ~40 screen px to the right; `A` toggles its ankylosis; another box
(L-MCP5 if present) is deleted with the Delete key and drawn again with `N` + drag; #save
saves ("Saved" in #status); screenshots worklist.png and film.png go to DIR; #sign-off signs
off ("Signed off"). Input is real (WebDriver pointer and key actions); JavaScript is only
used to read window.rajoints.

Prints one JSON line on success:
  {"moved", "x0_before", "x0_after", "ankylosis", "added", "final_boxes"}
and exits 1 with a message on stderr on any failure.

Needs selenium 4 and Debian's chromium + chromedriver (/usr/bin); nothing is downloaded.
"""

import argparse
import json
import os
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TIMEOUT = 30


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def make_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--password-store=basic",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver, cond, what, timeout=TIMEOUT):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(cond)
    except TimeoutException:
        raise Failure(f"timed out after {timeout}s waiting for {what} (at {driver.current_url})") from None


def path_of(driver):
    return urllib.parse.urlparse(driver.current_url).path


def boxes(driver):
    return driver.execute_script("return window.rajoints.boxes();")


def box_of(driver, joint):
    for b in boxes(driver):
        if b["joint"] == joint:
            return b
    return None


def screen_rect(driver, joint):
    r = driver.execute_script("return window.rajoints.screenRect(arguments[0]);", joint)
    check(r is not None, f"window.rajoints.screenRect({joint}) is null")
    return r


def status_text(driver):
    return driver.find_element(By.ID, "status").text


def drag(driver, x0, y0, x1, y1, steps=8):
    """A real left-button drag between two viewport points (CSS px)."""
    ab = ActionBuilder(driver, duration=20)
    p = ab.pointer_action
    p.move_to_location(int(round(x0)), int(round(y0)))
    p.pointer_down()
    for i in range(1, steps + 1):
        t = i / steps
        p.move_to_location(int(round(x0 + (x1 - x0) * t)), int(round(y0 + (y1 - y0) * t)))
    p.pointer_up()
    ab.perform()


def click_at(driver, x, y):
    ab = ActionBuilder(driver, duration=20)
    ab.pointer_action.move_to_location(int(round(x)), int(round(y)))
    ab.pointer_action.click()
    ab.perform()


def press(driver, *keys):
    ActionChains(driver).send_keys(*keys).perform()


def centre(r):
    return r["left"] + r["width"] / 2, r["top"] + r["height"] / 2


def selected_joint(driver):
    return driver.find_element(By.ID, "joint-name").get_attribute("value")


def select_box(driver, joint):
    """Selects the joint in the side panel's joint list, then clicks the middle of its box
    (a click on the selected box keeps it selected even where a smaller box overlaps it)."""
    driver.find_element(By.CSS_SELECTOR, f'#joint-list button[data-joint="{joint}"]').click()
    wait(driver, lambda d: selected_joint(d) == joint, f"{joint} to be selected from the joint list")
    x, y = centre(screen_rect(driver, joint))
    click_at(driver, x, y)
    wait(driver, lambda d: selected_joint(d) == joint, f"{joint} to stay selected after clicking its box")


def run(args):
    base = args.url.rstrip("/")
    os.makedirs(args.screenshots, exist_ok=True)
    driver = make_driver()
    try:
        return scenario(driver, base, args)
    except Failure:
        dump_console(driver)
        save_failure_shot(driver, args.screenshots)
        raise
    finally:
        driver.quit()


def dump_console(driver):
    try:
        for entry in driver.get_log("browser"):
            print(f"browser console: {entry.get('level')} {entry.get('message')}", file=sys.stderr)
    except WebDriverException:
        pass


def save_failure_shot(driver, folder):
    try:
        driver.save_screenshot(os.path.join(folder, "failure.png"))
    except WebDriverException:
        pass


def scenario(driver, base, args):
    film_path = f"/films/{args.film}"

    # 1. Without a session the film page sends us to the login page.
    driver.get(base + film_path)
    wait(driver, lambda d: path_of(d) == "/login", "the redirect to /login without a session")
    wait(driver, EC.presence_of_element_located((By.ID, "username")), "the login form")

    # 2. Log in with the keyboard.
    user = driver.find_element(By.ID, "username")
    user.clear()
    user.send_keys(args.user)
    pw = driver.find_element(By.ID, "password")
    pw.clear()
    pw.send_keys(args.password)
    pw.send_keys(Keys.ENTER)
    wait(driver, lambda d: path_of(d) == "/" or "failed" in urllib.parse.urlparse(d.current_url).query,
         "the worklist after logging in")
    check(path_of(driver) == "/", f"login as {args.user} failed (wrong user name or password?)")

    # 3. The worklist shows the film (page through if it is not on the first page).
    row_sel = f'tr[data-film-id="{args.film}"]'
    for _ in range(50):
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#film-rows tr[data-film-id]")
             or "No films" in d.find_element(By.ID, "film-rows").text, "worklist rows")
        if driver.find_elements(By.CSS_SELECTOR, row_sel):
            break
        nxt = driver.find_element(By.ID, "next")
        check(nxt.is_enabled(), f"film {args.film} is not on the worklist")
        before = driver.find_element(By.ID, "page-info").text
        nxt.click()
        wait(driver, lambda d: d.find_element(By.ID, "page-info").text != before, "the next worklist page")
    row = driver.find_element(By.CSS_SELECTOR, row_sel)
    driver.save_screenshot(os.path.join(args.screenshots, "worklist.png"))

    # 4. Open the film from its row.
    row.find_element(By.CSS_SELECTOR, "a.film-link").click()
    wait(driver, lambda d: path_of(d) == film_path, "the film page")
    wait(driver, lambda d: d.execute_script("return !!(window.rajoints && window.rajoints.ready);"),
         "window.rajoints.ready (pixels and boxes drawn)", timeout=60)
    initial = boxes(driver)
    check(initial, "the film has no boxes to edit")
    names = [b["joint"] for b in initial]

    # 5. Move a box ~40 screen px to the right by dragging it.
    moved = "R-PIP2" if "R-PIP2" in names else names[0]
    select_box(driver, moved)
    x0_before = box_of(driver, moved)["box"][0]
    r = screen_rect(driver, moved)
    x, y = centre(r)
    drag(driver, x, y, x + 40, y)
    wait(driver, lambda d: box_of(d, moved)["box"][0] > x0_before, f"{moved} to move right")
    x0_after = box_of(driver, moved)["box"][0]
    scale = r["width"] / (box_of(driver, moved)["box"][2] - box_of(driver, moved)["box"][0])
    expected = 40 / scale
    check(abs((x0_after - x0_before) - expected) <= max(2.0, 0.15 * expected),
          f"{moved} moved {x0_after - x0_before:.1f} image px, expected about {expected:.1f}")
    check(selected_joint(driver) == moved,
          f"{moved} is not the selected joint after dragging it")

    # 6. `A` toggles ankylosis of the selected joint.
    ank_before = bool(box_of(driver, moved)["ankylosis"])
    press(driver, "a")
    wait(driver, lambda d: bool(box_of(d, moved)["ankylosis"]) != ank_before, f"`A` to toggle ankylosis on {moved}")
    ank_after = bool(box_of(driver, moved)["ankylosis"])
    check(driver.find_element(By.ID, "ankylosis").is_selected() == ank_after, "#ankylosis checkbox out of step")

    # 7. Delete a box with the Delete key, then draw it again with N + drag.
    others = [n for n in names if n != moved]
    check(others, "need a second box to delete and redraw")
    victim = "L-MCP5" if "L-MCP5" in others else others[-1]
    old = screen_rect(driver, victim)
    select_box(driver, victim)
    press(driver, Keys.DELETE)
    wait(driver, lambda d: box_of(d, victim) is None, f"{victim} to be deleted")
    check(len(boxes(driver)) == len(names) - 1, "Delete removed more than one box")

    # Redrawn 20 screen px down and right of where it was, so that the saved box differs.
    press(driver, "n")
    drag(driver, old["left"] + 21, old["top"] + 21, old["left"] + old["width"] + 19, old["top"] + old["height"] + 19)
    wait(driver, lambda d: len(boxes(d)) == len(names), "the new box drawn after `N` + drag")
    new_name = selected_joint(driver)
    if new_name != victim:  # the first unused id was another joint: rename with the select
        Select(driver.find_element(By.ID, "joint-name")).select_by_value(victim)
        wait(driver, lambda d: box_of(d, victim) is not None, f"the new box to be renamed {victim}")
    check(sorted(b["joint"] for b in boxes(driver)) == sorted(names),
          f"joint set changed: {sorted(b['joint'] for b in boxes(driver))} vs {sorted(names)}")
    added = box_of(driver, victim)
    check(added["ankylosis"] is False, f"new box {victim} should start without ankylosis")

    # 8. Save with the button.
    driver.find_element(By.ID, "save").click()
    wait(driver, lambda d: status_text(d).startswith("Saved")
         and not d.execute_script("return window.rajoints.dirty;"), '"Saved" in #status')
    driver.save_screenshot(os.path.join(args.screenshots, "film.png"))

    # 9. Sign off.
    sign = driver.find_element(By.ID, "sign-off")
    check(sign.is_displayed(), f"#sign-off is not shown for {args.user} (needs role reviewer or admin)")
    sign.click()
    wait(driver, lambda d: status_text(d).startswith("Signed off") or status_text(d).startswith("Could not"),
         '"Signed off" in #status')
    check(status_text(driver).startswith("Signed off"), f"sign-off failed: {status_text(driver)}")

    final = boxes(driver)

    # 10. Other films: accept the AI's joints as they are, and sign off.
    accepted = []
    for film in args.accept:
        driver.get(f"{base}/films/{film}")
        wait(driver, lambda d: d.execute_script("return !!(window.rajoints && window.rajoints.ready);"),
             f"film {film} to load", timeout=60)
        driver.find_element(By.ID, "accept-all").click()
        wait(driver, lambda d: status_text(d).startswith("Saved") or status_text(d).startswith("Could not"),
             f'"Saved" after Accept all on {film}')
        check(status_text(driver).startswith("Saved"), f"accept all failed on {film}: {status_text(driver)}")
        driver.find_element(By.ID, "sign-off").click()
        wait(driver, lambda d: status_text(d).startswith("Signed off") or status_text(d).startswith("Could not"),
             f'"Signed off" on {film}')
        check(status_text(driver).startswith("Signed off"), f"sign-off failed on {film}: {status_text(driver)}")
        accepted.append({"film": film, "boxes": boxes(driver)})

    return {
        "accepted": accepted,
        "moved": moved,
        "x0_before": x0_before,
        "x0_after": x0_after,
        "ankylosis": ank_after,
        "added": victim,
        "final_boxes": final,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--film", required=True)
    ap.add_argument("--screenshots", required=True)
    ap.add_argument("--accept", action="append", default=[], metavar="FILM",
                    help="afterwards, accept all AI joints of this film and sign off (repeatable)")
    args = ap.parse_args()
    start = time.monotonic()
    try:
        result = run(args)
    except Failure as e:
        print(f"review_browser: FAILED: {e}", file=sys.stderr)
        return 1
    except WebDriverException as e:
        print(f"review_browser: FAILED: browser error: {e.msg or e}", file=sys.stderr)
        return 1
    print(json.dumps(result, separators=(",", ":")))
    print(f"review_browser: ok in {time.monotonic() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`qi-nudge stats --site`: one site's figures, the site found as /qi-projects finds it."""

import os
import re
import subprocess
import sys

import pytest

SQLITE = pytest.mark.parametrize("fresh_database_url", ["sqlite"], indirect=True)


def qi(url, *args, stdin=""):
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    env.pop("SLACK_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@SQLITE
def test_a_sites_figures_count_the_projects_its_list_shows(fresh_database_url):
    assert qi(fresh_database_url, "demo").returncode == 0

    stats = qi(fresh_database_url, "stats", "--site", "riverside")
    listed = qi(fresh_database_url, "console", "--as", "Asha Patel", stdin="/qi-projects river\n")
    unknown = qi(fresh_database_url, "stats", "--site", "Moon Base")

    headline = "1 of 3 active projects has a service user or carer on the team"
    assert stats.returncode == 0, stats.stderr
    assert f"{headline} at Riverside Hospital (33% today), up from" in stats.stdout
    assert "== Active QI projects at Riverside Hospital ==" in listed.stdout
    assert f"{headline}.\n" in listed.stdout
    assert listed.stdout.count("(Riverside Hospital): led by") == 3
    assert unknown.returncode == 1
    assert 'I don\'t know a site called "Moon Base".' in unknown.stdout + unknown.stderr
    assert "Traceback" not in stats.stderr + listed.stderr + unknown.stderr


@SQLITE
def test_an_empty_database_names_the_commands_to_start_with(fresh_database_url):
    stats = qi(fresh_database_url, "stats")
    backfilled = qi(fresh_database_url, "stats", "--backfill")

    assert stats.returncode == backfilled.returncode == 0, stats.stderr + backfilled.stderr
    assert "0 of 0" not in stats.stdout
    assert "qi-nudge import-projects FILE.csv" in stats.stdout
    assert "qi-nudge stats --backfill" in stats.stdout
    assert backfilled.stdout.startswith(
        "There are no projects yet, so there are no past weeks to work out. Load the project "
        "register first: qi-nudge import-projects FILE.csv"
    )


@SQLITE
def test_a_back_fill_says_what_its_numbers_count(fresh_database_url):
    assert qi(fresh_database_url, "demo").returncode == 0  # the demo works out its history

    again = qi(fresh_database_url, "stats", "--backfill")

    assert again.returncode == 0, again.stderr
    told = again.stdout
    worked = re.search(r"Worked out the figures for (\d+) past weeks, from the week of ", told)
    empty = re.search(r"In (\d+) of them no project was active, so there is no share to draw", told)
    drawn = re.search(r"The chart shows (\d+) weekly figures, up to the week of ", told)
    assert worked and empty and drawn, told
    assert "(when the first project began) to last week" in told
    weeks = int(worked[1])
    assert f"{weeks} weeks already recorded were kept as they were (--replace works" in told
    # The numbers add up, and each says what it counts: no "79 weeks" then "47 weeks". The
    # demo took this week's figure too, and the back-fill says so.
    assert "This week's figure, taken when its reminder time came, is on the chart too." in told
    assert int(drawn[1]) == weeks - int(empty[1]) + 1
    # Organisers at the command line read what the signs mean at once.
    assert "The line across it is the baseline" in told

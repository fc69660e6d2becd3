"""The ``gdpr-vault deadline`` command, called through ``main(argv)``."""

import json
import subprocess
import sys

import pytest

from gdpr_vault.clocks.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_domain_example_48_hours(capsys):
    code, out, err = _run(capsys, "2026-03-28T22:30:00+01:00", "48 hours")
    assert code == 0, err
    data = json.loads(out)
    assert data["deadline"] == "2026-03-30T21:30:00Z"
    assert data["deadline_local"] == "2026-03-30T23:30:00+02:00"
    assert data["tz"] == "Europe/Paris"
    assert data["calendar"] == "FR"
    assert data["extended"] is False
    assert isinstance(data["explanation"], list) and data["explanation"]


def test_duration_as_several_words_and_z_start(capsys):
    code, out, _ = _run(
        capsys, "2026-03-28T21:30:00Z", "48", "heures", "--clause", "seed 000 Art. 41"
    )
    assert code == 0
    data = json.loads(out)
    assert data["deadline"] == "2026-03-30T21:30:00Z"
    assert data["explanation"][0] == "Clause: seed 000 Art. 41."


def test_options(capsys):
    code, out, _ = _run(
        capsys,
        "2026-03-27T17:00:00+01:00",
        "4 heures ouvrées",
        "--business-hours",
        "09:00-12:00,14:00-18:00",
    )
    assert code == 0
    assert json.loads(out)["deadline_local"] == "2026-03-30T12:00:00+02:00"

    code, out, _ = _run(capsys, "2026-04-01T10:00:00+02:00", "1 mois", "--extend")
    data = json.loads(out)
    assert (data["display"], data["extended"]) == ("2026-05-04 24:00 (Europe/Paris)", True)

    code, out, _ = _run(capsys, "2026-04-01T10:00:00+02:00", "1 mois", "--party", "client")
    assert json.loads(out)["extended"] is True
    code, out, _ = _run(
        capsys, "2026-04-01T10:00:00+02:00", "1 mois", "--party", "client", "--no-extend"
    )
    assert json.loads(out)["display"] == "2026-05-01 24:00 (Europe/Paris)"

    code, out, _ = _run(
        capsys, "2026-03-03T10:00:00+01:00", "1 mois", "--calendar", "FR-57", "--extend"
    )
    assert json.loads(out)["display"] == "2026-04-07 24:00 (Europe/Paris)"  # Good Fri, Easter

    code, out, _ = _run(
        capsys, "2026-05-13T10:00:00+02:00", "2 jours ouvrés", "--closing-day", "2026-05-15=Bridge"
    )
    assert json.loads(out)["due_date_local"] == "2026-05-19"

    code, out, _ = _run(capsys, "2026-03-07T12:00:00Z", "P1D", "--tz", "America/New_York")
    assert json.loads(out)["deadline"] == "2026-03-09T03:59:59.999999Z"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["2026-03-28T22:30:00", "48 hours"], "no time zone"),
        (["yesterday", "48 hours"], "not an ISO 8601 instant"),
        (["2026-03-28T22:30:00Z", "48 hours", "--tz", "Europe/Pariss"], "unknown time zone"),
        (["2026-03-28T22:30:00Z", "48 fortnights"], "accepted forms"),
        (["2026-03-28T22:30:00Z", "4 business hours"], "business-hours windows"),
        (["2026-03-28T22:30:00Z", "4 business hours", "--business-hours", "18:00-09:00"], "window"),
        (["2026-03-28T22:30:00Z", "4 days", "--calendar", "DE"], "unknown calendar"),
        (["2026-03-28T22:30:00Z", "4 days", "--closing-day", "tomorrow"], "closing day"),
        (["2026-03-28T22:30:00Z"], "required"),
        ([], "required"),
        (["2026-03-28T22:30:00Z", "4 days", "--extend", "--no-extend"], "not allowed"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert err.startswith("gdpr-vault deadline: error: ")
    assert needle in err
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert "DURATION" in out


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "gdpr_vault.clocks", "2026-03-28T22:30:00+01:00", "72 hours"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deadline"] == "2026-03-31T21:30:00Z"
    bad = subprocess.run(
        [sys.executable, "-m", "gdpr_vault.clocks", "2026-03-28T22:30:00", "72 hours"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1

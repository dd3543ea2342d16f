"""Class names for reports (ecg12.classes): every scored class by abbreviation and SNOMED CT term."""

from __future__ import annotations

import csv

from ecg12.classes import CLASS_TABLE_FILE, EQUIVALENT_CLASSES, class_name, scored_classes


def table() -> dict[str, tuple[str, str]]:
    with open(CLASS_TABLE_FILE, newline="") as handle:
        return {row["SNOMED CT Code"]: (row["Abbreviation"], row["Dx"]) for row in csv.DictReader(handle)}


def test_every_scored_class_has_its_tables_abbreviation_and_term():
    rows = table()
    paired = {code for pair in EQUIVALENT_CLASSES for code in pair}
    for code in scored_classes().codes:
        if code not in paired:
            assert class_name(code) == rows[code]


def test_an_equivalent_pair_is_named_by_both_codes_whichever_is_asked():
    rows = table()
    for first, second in EQUIVALENT_CLASSES:
        expected = (f"{rows[first][0]}/{rows[second][0]}", f"{rows[first][1]} / {rows[second][1]}")
        assert class_name(first) == class_name(second) == expected


def test_a_code_outside_the_table_is_named_by_itself():
    assert class_name("999999") == ("999999", "999999")

"""Real London figures copied from dankarran/coronavirus-london (see data/PROVENANCE.md).

The two source files are JSON lists of {"date", "cases"} / {"date", "count"}; the values are copied here in
order, one per consecutive day, so the rebuild script can put them into the PHE API format.
"""

# public/data/phe/london.json @ d2ad4a8c: London daily lab-confirmed cases by specimen date (PHE), 2020-02-11 ..
LONDON_CASES_FIRST_DATE = "2020-02-11"
LONDON_DAILY_CASES = [
    1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 2, 0, 2, 0, 1, 5, 1, 8, 12, 6, 18, 14, 23, 14, 22, 53, 91, 183, 167, 136,
    148, 165, 234, 310, 356, 333, 426, 350, 435, 687, 636, 755, 763, 819, 577, 592, 844, 915, 963, 1022, 936,
    717, 603, 835, 904, 832, 772, 572, 493, 413, 566, 555, 554, 490, 427, 306, 246, 377, 342, 275, 317, 248,
    161, 91, 190, 180, 248, 255, 196, 129, 68, 163, 138, 145, 144, 94, 60, 36, 68, 73, 82, 82, 51, 24, 29, 42,
    21, 0,
]

# public/data/nhs/people-in-hospital.json @ 22b6b9df: COVID-19 patients in London hospitals (NHS England), 2020-03-20 ..
LONDON_HOSPITAL_FIRST_DATE = "2020-03-20"
LONDON_PEOPLE_IN_HOSPITAL = [
    819, 1055, 1228, 1515, 1651, 1974, 2158, 2727, 3002, 3334, 3492, 3915, 4012, 4009, 3836, 4406, 4571, 4656,
    4689, 4813, 4791, 4736, 4430, 4433, 4248, 4031, 3886, 3800, 3617, 3445, 3384, 3378, 3270, 3134, 2928, 2737,
    2688, 2615, 2614, 2304, 2335, 2235, 2152, 2033, 2001, 1935, 1890, 1803, 1736, 1639, 1653, 1579, 1580, 1547,
    1490, 1404, 1366, 1315, 1282, 1258, 1182, 1050, 1018, 1047, 961, 974, 987, 957, 913, 861, 839, 780,
]

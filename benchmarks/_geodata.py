"""Small embedded geographic tables the scenario generator weights and places things with.

The ``zipcodes`` package has coordinates for every US ZIP but no population, so demand is weighted
by a documented proxy: the 50 largest US metropolitan statistical areas with their 2020 census
populations (rounded to 10k; U.S. Census Bureau, 2020 decennial census, MSA totals) and a centre
point. Each metro's population is spread evenly over the STANDARD ZIPs within ``METRO_RADIUS_KM`` of
its centre; the rest of the country (``US_POPULATION`` minus the metros) is spread evenly over every
STANDARD ZIP of the 50 states and DC. That gives a city its weight and still sends some orders to
rural ZIPs, which is what makes distances and transit zones realistic.

Warehouse sites are real ZIPs in well-known US fulfilment clusters (Inland Empire, Lehigh Valley,
Memphis, Louisville, Indianapolis, DFW, ...); networks larger than this list add further real ZIPs
drawn by population weight (see ``_scenario``).
"""

from __future__ import annotations

__all__ = ["HUB_ZIPS", "METROS", "METRO_RADIUS_KM", "US_POPULATION", "Metro"]

from typing import NamedTuple


class Metro(NamedTuple):
    name: str
    population: int
    latitude: float
    longitude: float


US_POPULATION = 331_450_000  # 2020 census, resident population of the 50 states and DC
METRO_RADIUS_KM = 60.0

METROS: tuple[Metro, ...] = (
    Metro("New York", 20_140_000, 40.71, -74.01),
    Metro("Los Angeles", 13_200_000, 34.05, -118.24),
    Metro("Chicago", 9_620_000, 41.88, -87.63),
    Metro("Dallas-Fort Worth", 7_640_000, 32.78, -96.80),
    Metro("Houston", 7_120_000, 29.76, -95.37),
    Metro("Washington", 6_390_000, 38.91, -77.04),
    Metro("Philadelphia", 6_250_000, 39.95, -75.17),
    Metro("Miami", 6_140_000, 25.76, -80.19),
    Metro("Atlanta", 6_090_000, 33.75, -84.39),
    Metro("Boston", 4_940_000, 42.36, -71.06),
    Metro("Phoenix", 4_850_000, 33.45, -112.07),
    Metro("San Francisco", 4_750_000, 37.77, -122.42),
    Metro("Riverside", 4_600_000, 33.95, -117.40),
    Metro("Detroit", 4_390_000, 42.33, -83.05),
    Metro("Seattle", 4_020_000, 47.61, -122.33),
    Metro("Minneapolis", 3_690_000, 44.98, -93.27),
    Metro("San Diego", 3_300_000, 32.72, -117.16),
    Metro("Tampa", 3_180_000, 27.95, -82.46),
    Metro("Denver", 2_960_000, 39.74, -104.99),
    Metro("Baltimore", 2_840_000, 39.29, -76.61),
    Metro("St. Louis", 2_820_000, 38.63, -90.20),
    Metro("Orlando", 2_670_000, 28.54, -81.38),
    Metro("Charlotte", 2_660_000, 35.23, -80.84),
    Metro("San Antonio", 2_560_000, 29.42, -98.49),
    Metro("Portland", 2_510_000, 45.52, -122.68),
    Metro("Sacramento", 2_400_000, 38.58, -121.49),
    Metro("Pittsburgh", 2_370_000, 40.44, -79.99),
    Metro("Austin", 2_280_000, 30.27, -97.74),
    Metro("Las Vegas", 2_270_000, 36.17, -115.14),
    Metro("Cincinnati", 2_260_000, 39.10, -84.51),
    Metro("Kansas City", 2_190_000, 39.10, -94.58),
    Metro("Columbus", 2_140_000, 39.96, -83.00),
    Metro("Indianapolis", 2_110_000, 39.77, -86.16),
    Metro("Cleveland", 2_090_000, 41.50, -81.69),
    Metro("San Jose", 2_000_000, 37.34, -121.89),
    Metro("Nashville", 1_990_000, 36.16, -86.78),
    Metro("Virginia Beach", 1_800_000, 36.85, -75.98),
    Metro("Providence", 1_680_000, 41.82, -71.41),
    Metro("Jacksonville", 1_610_000, 30.33, -81.66),
    Metro("Milwaukee", 1_570_000, 43.04, -87.91),
    Metro("Oklahoma City", 1_430_000, 35.47, -97.52),
    Metro("Raleigh", 1_410_000, 35.78, -78.64),
    Metro("Memphis", 1_340_000, 35.15, -90.05),
    Metro("Richmond", 1_310_000, 37.54, -77.44),
    Metro("Louisville", 1_290_000, 38.25, -85.76),
    Metro("New Orleans", 1_270_000, 29.95, -90.07),
    Metro("Salt Lake City", 1_260_000, 40.76, -111.89),
    Metro("Hartford", 1_210_000, 41.76, -72.67),
    Metro("Buffalo", 1_170_000, 42.89, -78.88),
    Metro("Birmingham", 1_120_000, 33.52, -86.80),
)

# Real ZIPs in US fulfilment clusters, biggest hubs first: a 5-warehouse network is the first five.
HUB_ZIPS: tuple[str, ...] = (
    "92376",  # Rialto CA (Inland Empire)
    "18031",  # Breinigsville PA (Lehigh Valley)
    "76177",  # Fort Worth TX (Alliance)
    "46241",  # Indianapolis IN
    "30349",  # Atlanta GA
    "38118",  # Memphis TN
    "98032",  # Kent WA
    "60446",  # Romeoville IL
    "08817",  # Edison NJ
    "40218",  # Louisville KY
    "85043",  # Phoenix AZ
    "77032",  # Houston TX
    "89506",  # Reno NV
    "43217",  # Columbus OH
    "33166",  # Miami FL
    "80249",  # Denver CO
    "28214",  # Charlotte NC
    "55379",  # Shakopee MN
    "95206",  # Stockton CA
    "02038",  # Franklin MA
    "84104",  # Salt Lake City UT
    "64161",  # Kansas City MO
    "63045",  # Earth City MO
    "37090",  # Lebanon TN
    "17013",  # Carlisle PA
    "21224",  # Baltimore MD
    "97060",  # Troutdale OR
    "78219",  # San Antonio TX
    "32824",  # Orlando FL
    "48150",  # Livonia MI
    "44125",  # Cleveland OH
    "53144",  # Kenosha WI
    "23836",  # Chester VA
    "27703",  # Durham NC
    "29172",  # West Columbia SC
    "35221",  # Birmingham AL
    "70123",  # New Orleans LA
    "73179",  # Oklahoma City OK
    "87121",  # Albuquerque NM
    "83687",  # Nampa ID
    "99216",  # Spokane WA
    "68138",  # Omaha NE
    "50322",  # Urbandale IA
    "12205",  # Albany NY
    "14227",  # Buffalo NY
    "06095",  # Windsor CT
    "15108",  # Coraopolis PA
    "45246",  # Cincinnati OH
    "89115",  # Las Vegas NV
    "32218",  # Jacksonville FL
)

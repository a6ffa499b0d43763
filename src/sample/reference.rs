//! The reference ICB of `shared/domain/reference.md`, made up where the papers give no detail: NHS
//! Coventry and Warwickshire (QWU), its four Places, its providers, and about 119 general practices in
//! about 20 primary care networks with list sizes from about 2,000 to about 30,000.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const ICB_CODE: &str = "QWU";
pub const ICB_NAME: &str = "NHS Coventry and Warwickshire ICB";

pub struct Place {
    pub name: &'static str,
    /// Share of the ICB's registered population.
    pub share: f64,
    /// How deprived the Place is: the mean IMD decile of its patients (1 = most deprived).
    pub mean_imd_decile: f64,
    pub pcns: usize,
}

pub const PLACES: [Place; 4] = [
    Place {
        name: "Coventry",
        share: 0.42,
        mean_imd_decile: 4.2,
        pcns: 8,
    },
    Place {
        name: "Rugby",
        share: 0.12,
        mean_imd_decile: 6.4,
        pcns: 3,
    },
    Place {
        name: "South Warwickshire",
        share: 0.28,
        mean_imd_decile: 7.3,
        pcns: 5,
    },
    Place {
        name: "Warwickshire North",
        share: 0.18,
        mean_imd_decile: 4.9,
        pcns: 4,
    },
];

pub struct Provider {
    pub code: &'static str,
    pub short: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    /// The Place most of its patients come from.
    pub home_place: &'static str,
}

pub const PROVIDERS: [Provider; 5] = [
    Provider {
        code: "RKB",
        short: "UHCW",
        name: "University Hospitals Coventry and Warwickshire NHS Trust",
        kind: "acute",
        home_place: "Coventry",
    },
    Provider {
        code: "RJC",
        short: "SWFT",
        name: "South Warwickshire University NHS Foundation Trust",
        kind: "acute",
        home_place: "South Warwickshire",
    },
    Provider {
        code: "RLT",
        short: "GEH",
        name: "George Eliot Hospital NHS Trust",
        kind: "acute",
        home_place: "Warwickshire North",
    },
    Provider {
        code: "RYG",
        short: "CWPT",
        name: "Coventry and Warwickshire Partnership NHS Trust",
        kind: "mental health and community",
        home_place: "Coventry",
    },
    Provider {
        code: "RYA",
        short: "WMAS",
        name: "West Midlands Ambulance Service University NHS Foundation Trust",
        kind: "ambulance",
        home_place: "Coventry",
    },
];

/// The acute trusts, which run the A&E departments.
pub fn acute_providers() -> impl Iterator<Item = &'static Provider> {
    PROVIDERS.iter().filter(|p| p.kind == "acute")
}

#[derive(Debug, Clone)]
pub struct Practice {
    pub code: String,
    pub name: String,
    pub pcn_code: String,
    pub pcn_name: String,
    pub place: &'static str,
    /// Registered patients at scale 1 (April 2019).
    pub list_size: u32,
    /// Mean IMD decile of the practice's patients.
    pub imd_decile: f64,
}

const STREETS: [&str; 24] = [
    "Cubbington Road",
    "Station Road",
    "Church Lane",
    "Park Avenue",
    "Albany Road",
    "Jubilee",
    "Riverside",
    "Abbey",
    "Castle",
    "Market Street",
    "Priory",
    "Bridge",
    "Meadow",
    "Kingsway",
    "Willow",
    "Orchard",
    "Hillside",
    "Brook",
    "Oak Tree",
    "Manor",
    "Forge",
    "Greenway",
    "Victoria",
    "Spencer Street",
];
const KINDS: [&str; 4] = [
    "Surgery",
    "Medical Centre",
    "Health Centre",
    "Medical Practice",
];

/// The practices at scale 1, deterministic for a seed. `scale` copies the ICB into N areas, each with
/// its own practice codes (`M84…`, `M85…`, …), for benchmarks at regional size.
pub fn practices(rng: &mut ChaCha8Rng, scale: u32) -> Vec<Practice> {
    let mut out = Vec::new();
    for area in 0..scale.max(1) {
        let mut number = 1;
        let mut pcn_number = 1;
        for place in PLACES.iter() {
            // About 119 practices in all, in proportion to each Place's population.
            let n_practices = (119.0 * place.share).round() as usize;
            for k in 0..n_practices {
                let pcn_index = k * place.pcns / n_practices;
                let pcn_code = format!("U{:02}{:03}", 84 + area, pcn_number + pcn_index);
                let pcn_name = format!("{} PCN {}", place.name, pcn_index + 1);
                // Log-uniform list sizes between about 2,000 and 30,000, averaging about 8,400.
                let list_size = (2000.0 * (15.0f64).powf(rng.random::<f64>().powf(1.3))) as u32;
                let street = STREETS[rng.random_range(0..STREETS.len())];
                let kind = KINDS[rng.random_range(0..KINDS.len())];
                let imd = (place.mean_imd_decile + rng.random_range(-2.5..2.5)).clamp(1.0, 10.0);
                out.push(Practice {
                    code: format!("M{:02}{:03}", 84 + area, number),
                    name: format!("{street} {kind}"),
                    pcn_code,
                    pcn_name,
                    place: place.name,
                    list_size,
                    imd_decile: imd,
                });
                number += 1;
            }
            pcn_number += place.pcns;
        }
    }
    out
}

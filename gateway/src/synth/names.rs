//! The word lists a synthetic municipality is made of: common Swedish given
//! and family names, street names, school and child-health-centre names.
//!
//! The lists are our own, built from the kind of names Statistics Sweden
//! lists as common; no combination refers to a real person. Places are
//! invented (`Syntetstad`, postal codes 999xx, which Postnord does not use).

/// Given names for girls and women.
pub const FEMALE_GIVEN: &[&str] = &[
    "Alice", "Maja", "Vera", "Elsa", "Astrid", "Wilma", "Freja", "Selma", "Alma", "Ella", "Olivia",
    "Ebba", "Lilly", "Signe", "Agnes", "Stella", "Alva", "Saga", "Ines", "Nova", "Julia", "Klara",
    "Ellen", "Ida", "Emma", "Hanna", "Sara", "Elin", "Linnea", "Moa", "Anna", "Maria", "Karin",
    "Sofia", "Lena", "Eva", "Kristina", "Malin", "Jenny", "Johanna", "Emelie", "Therese",
    "Camilla", "Sanna", "Frida", "Amira", "Yasmin", "Leila", "Mariam", "Noor",
];

/// Given names for boys and men.
pub const MALE_GIVEN: &[&str] = &[
    "William",
    "Noah",
    "Hugo",
    "Lucas",
    "Liam",
    "Oliver",
    "Adam",
    "Elias",
    "Alexander",
    "Matteo",
    "Leo",
    "Nils",
    "Theo",
    "Olle",
    "Vincent",
    "Arvid",
    "Melvin",
    "Harry",
    "Charlie",
    "Ludvig",
    "Axel",
    "Viktor",
    "Filip",
    "Isak",
    "Emil",
    "Oscar",
    "Anton",
    "Erik",
    "Gustav",
    "Jonathan",
    "Anders",
    "Johan",
    "Per",
    "Lars",
    "Mikael",
    "Fredrik",
    "Daniel",
    "Andreas",
    "Magnus",
    "Henrik",
    "Jonas",
    "Martin",
    "Niklas",
    "Peter",
    "Stefan",
    "Mohammed",
    "Ali",
    "Omar",
    "Yusuf",
    "Ibrahim",
];

/// Family names.
pub const FAMILY: &[&str] = &[
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Jakobsson",
    "Magnusson",
    "Olofsson",
    "Lindström",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Axelsson",
    "Bergström",
    "Lundberg",
    "Lind",
    "Lundgren",
    "Lundqvist",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Forsberg",
    "Sjöberg",
    "Wallin",
    "Ali",
    "Mohammed",
    "Engström",
    "Eklund",
    "Danielsson",
    "Håkansson",
    "Lundin",
    "Björk",
    "Bergman",
    "Gunnarsson",
    "Holm",
    "Wikström",
    "Samuelsson",
    "Isaksson",
    "Fransson",
    "Bergqvist",
    "Nyström",
    "Holmberg",
    "Arvidsson",
    "Löfgren",
    "Söderberg",
    "Nyberg",
    "Hassan",
    "Nguyen",
    "Kaya",
    "Ahmed",
];

/// Street names in the invented town.
pub const STREETS: &[&str] = &[
    "Storgatan",
    "Kyrkogatan",
    "Skolgatan",
    "Ringvägen",
    "Björkvägen",
    "Tallvägen",
    "Granvägen",
    "Ekvägen",
    "Lönnvägen",
    "Rönnvägen",
    "Aspvägen",
    "Lindvägen",
    "Järnvägsgatan",
    "Parkvägen",
    "Ängsvägen",
    "Solvägen",
    "Bäckvägen",
    "Sjövägen",
    "Kvarngatan",
    "Hamngatan",
    "Torggatan",
    "Trädgårdsgatan",
    "Östra Långgatan",
    "Västra Vägen",
    "Norra Allén",
    "Södra Allén",
    "Mossvägen",
    "Hagvägen",
    "Klövervägen",
    "Blåbärsstigen",
    "Lingonstigen",
    "Hallonvägen",
    "Smedjegatan",
    "Bryggaregatan",
    "Prästgårdsvägen",
    "Stationsvägen",
    "Fältvägen",
    "Backstugevägen",
    "Vallgatan",
    "Nygatan",
];

/// The invented town every address is in.
pub const TOWN: &str = "Syntetstad";

/// Names of compulsory-school units (F–6 and 7–9).
pub const SCHOOLS: &[&str] = &[
    "Björkskolan",
    "Ekbackeskolan",
    "Tallbacken",
    "Solhemsskolan",
    "Hagaskolan",
    "Ängsskolan",
    "Kvarnbyskolan",
    "Lindeskolan",
    "Sjöviksskolan",
    "Rönnskolan",
    "Furuskolan",
    "Bäckaskolan",
    "Nybyskolan",
    "Västerskolan",
    "Österskolan",
    "Norrskolan",
    "Söderskolan",
    "Kyrkbyskolan",
    "Strandskolan",
    "Hästhagsskolan",
    "Alléskolan",
    "Mossbergsskolan",
    "Granbackaskolan",
    "Ljungskolan",
];

/// Names of upper-secondary school units.
pub const UPPER_SECONDARY_SCHOOLS: &[&str] = &[
    "Syntetstads gymnasium",
    "Bryggargymnasiet",
    "Kunskapsgymnasiet Syntetstad",
    "Åsgymnasiet",
    "Hamngymnasiet",
    "Teknikgymnasiet",
];

/// Upper-secondary programmes (Skolverket's two-letter codes), used in class
/// names such as `NA24B`.
pub const PROGRAMMES: &[&str] = &["NA", "SA", "EK", "TE", "ES", "BF", "EE", "VO", "HA", "IM"];

/// Child-health centres (barnavårdscentraler) of the region.
pub const CHILD_HEALTH_CENTRES: &[&str] = &[
    "BVC Centrum",
    "BVC Norr",
    "BVC Söder",
    "BVC Väster",
    "BVC Öster",
    "BVC Hamnen",
    "BVC Kvarnbyn",
    "BVC Hagen",
];

/// Swedish letters folded to ASCII, for e-mail addresses.
pub fn ascii_fold(name: &str, out: &mut String) {
    for c in name.chars() {
        match c {
            'å' | 'ä' | 'Å' | 'Ä' => out.push('a'),
            'ö' | 'Ö' => out.push('o'),
            'é' | 'É' => out.push('e'),
            ' ' => out.push('.'),
            c => out.extend(c.to_lowercase()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_gives_plain_lower_case_ascii() {
        let mut out = String::new();
        ascii_fold("Östra Långgatan", &mut out);
        assert_eq!(out, "ostra.langgatan");
    }

    #[test]
    fn lists_are_not_empty_and_have_no_duplicates() {
        for list in [
            FEMALE_GIVEN,
            MALE_GIVEN,
            FAMILY,
            STREETS,
            SCHOOLS,
            PROGRAMMES,
        ] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len());
        }
    }
}

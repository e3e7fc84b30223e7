//! The wording of synthetic journal notes: keyword-structured text (sökord
//! and the text under each) built from short Swedish phrases of the kind
//! school nurses, child-health nurses, psychologists and counsellors write.
//! Every phrase is invented; measured values in the text are the same as in
//! the measurement records of the same visit.

use brygga_mapping::id::Sex;
use brygga_mapping::model::{KeywordSection, NoteContent};

/// Keyword sections in the order they are added.
#[derive(Debug, Default)]
pub struct Sections(Vec<KeywordSection>);

impl Sections {
    pub fn new() -> Self {
        Sections(Vec::with_capacity(6))
    }

    pub fn add(&mut self, keyword: &str, text: impl Into<String>) -> &mut Self {
        self.0.push(KeywordSection {
            keyword: keyword.to_owned(),
            text: text.into(),
        });
        self
    }

    pub fn into_content(self) -> NoteContent {
        NoteContent::Keywords { sections: self.0 }
    }
}

/// A number the Swedish way, with a decimal comma.
pub fn decimal(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}").replace('.', ",")
}

/// Visual acuity as written on a chart: `1,0`, `0,8`, `0,65`.
pub fn acuity(value: f64) -> String {
    let two = format!("{value:.2}");
    let short = two.strip_suffix('0').unwrap_or(&two);
    short.replace('.', ",")
}

/// `flicka` or `pojke`.
pub fn child_word(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "flicka",
        Sex::Male => "pojke",
    }
}

/// What a healthy pupil or guardian tells at a health visit.
pub const HEALTHY_HISTORY: &[&str] = &[
    "Frisk, inga kända allergier.",
    "Frisk. Äter och sover bra enligt vårdnadshavare.",
    "Inga kända sjukdomar. Trivs i skolan och har kompisar.",
    "Frisk. Tränar fotboll två gånger i veckan.",
    "Inga besvär. Äter frukost och lunch varje dag.",
    "Frisk. Går och lägger sig i tid, sover gott.",
];

/// Conditions some pupils have, mentioned at health visits.
pub const CONDITIONS: &[&str] = &[
    "Astma, använder inhalationsspray vid behov.",
    "Pollenallergi, tar antihistamin under säsongen.",
    "Laktosintolerans, laktosfri kost i skolan.",
    "Eksem, smörjer regelbundet.",
    "Celiaki, glutenfri kost.",
    "Nötallergi, adrenalinpenna finns på skolan.",
];

/// Plans at the end of a health visit.
pub const PLANS: &[&str] = &[
    "Nästa hälsobesök enligt basprogrammet.",
    "Ingen uppföljning behövs.",
    "Eleven vet var skolsköterskan finns och kan komma vid behov.",
    "Information till vårdnadshavare via brev.",
];

/// Open visits (mottagningsbesök): reason, status, assessment, action.
pub const VISITS: &[[&str; 4]] = &[
    [
        "Huvudvärk sedan två dagar.",
        "Opåverkad. Temp 37,1.",
        "Sannolikt spänningshuvudvärk, dricker lite under skoldagen.",
        "Råd om vätskeintag och regelbundna måltider. Återkommer vid behov.",
    ],
    [
        "Ont i magen på morgnarna.",
        "Mjuk och oöm buk.",
        "Oklar buksmärta utan tecken på akut sjukdom.",
        "Kontakt med vårdnadshavare. Uppföljning om två veckor.",
    ],
    [
        "Vrickat foten på idrotten.",
        "Svullnad lateralt om fotleden, kan belasta.",
        "Distorsion.",
        "Kylning och högläge. Söker vårdcentral vid försämring.",
    ],
    [
        "Trött och nedstämd de senaste veckorna.",
        "Ledsen men samarbetar väl.",
        "Nedstämdhet som behöver följas upp.",
        "Erbjuds samtal med kurator. Ny tid om en vecka.",
    ],
    [
        "Klåda i hårbotten.",
        "Huvudlöss påvisas.",
        "Huvudlöss.",
        "Information till vårdnadshavare om behandling.",
    ],
    [
        "Vill prata om sömnsvårigheter.",
        "Somnar sent, mycket skärmtid på kvällen.",
        "Insomningssvårigheter.",
        "Sömnråd givna. Uppföljning vid nästa besök.",
    ],
    [
        "Ont i halsen och feber sedan i morse.",
        "Temp 38,4. Rodnade tonsiller.",
        "Övre luftvägsinfektion.",
        "Hemgång efter kontakt med vårdnadshavare.",
    ],
    [
        "Skavsår på hälen.",
        "Ytligt sår utan tecken på infektion.",
        "Skavsår.",
        "Omläggning.",
    ],
];

/// Phone contacts: what was said.
pub const PHONE_CALLS: &[&str] = &[
    "Vårdnadshavare ringer och berättar att eleven har fått astmadiagnos. Uppdaterar hälsouppgifter.",
    "Samtal med vårdnadshavare om elevens frånvaro. Bokar hälsosamtal.",
    "Vårdnadshavare undrar över vaccinationer. Informerar om basprogrammet.",
    "Mentor ringer om elev som ofta har ont i magen. Eleven erbjuds besök.",
    "Vårdnadshavare meddelar att eleven opererats. Idrott undantas i två veckor.",
    "Samtal med vårdnadshavare om resultat från synkontroll.",
];

/// Referrals the school nurse or doctor writes, outside the screening ones.
pub const REFERRALS: &[&str] = &[
    "Remiss till barn- och ungdomsmedicinsk mottagning för bedömning av tillväxt.",
    "Remiss till barn- och ungdomspsykiatrin efter samråd med vårdnadshavare.",
    "Remiss till vårdcentral för bedömning av återkommande huvudvärk.",
    "Remiss till fysioterapeut för bedömning av ryggbesvär.",
];

/// Psychologist notes: background, what was done, assessment.
pub const PSYCHOLOGIST: &[[&str; 3]] = &[
    [
        "Uppdrag från elevhälsoteamet efter oro för inlärningssvårigheter.",
        "Kognitiv utredning påbörjad, två testtillfällen.",
        "Resultat sammanställs och återkopplas till vårdnadshavare.",
    ],
    [
        "Eleven har själv sökt kontakt på grund av oro.",
        "Stödsamtal med fokus på oro och sömn.",
        "Fortsatta samtal varannan vecka.",
    ],
    [
        "Oro från mentor för koncentrationssvårigheter.",
        "Observation i klassrummet och samtal med eleven.",
        "Rekommenderar anpassningar i undervisningen; ny bedömning till våren.",
    ],
];

/// Counsellor notes: topic, conversation, plan.
pub const COUNSELLOR: &[[&str; 3]] = &[
    [
        "Eleven söker själv kurator.",
        "Berättar om konflikter i klassen och känner sig utanför.",
        "Ny samtalstid nästa vecka. Kontakt med mentor efter elevens medgivande.",
    ],
    [
        "Mentor har uppmärksammat hög frånvaro.",
        "Samtal om skolsituationen och vad som gör det svårt att komma till skolan.",
        "Träff med vårdnadshavare bokas.",
    ],
    [
        "Uppföljning av tidigare samtal.",
        "Eleven beskriver att det går bättre hemma och i skolan.",
        "Avslutar kontakten; eleven vet hur hen når kurator.",
    ],
];

/// What a child-health nurse notes about a well child, by age in months.
pub fn infant_development(months: i32) -> &'static str {
    match months {
        ..=1 => "Tittar på föräldrarna, reagerar på ljud.",
        2..=3 => "Ler socialt, följer med blicken.",
        4..=6 => "Skrattar, griper efter leksaker, vänder sig från mage till rygg.",
        7..=9 => "Sitter utan stöd, jollrar med stavelser.",
        10..=12 => "Reser sig till stående, säger enstaka ord.",
        13..=24 => "Går själv, pekar och säger flera ord.",
        25..=42 => "Pratar i meningar, leker tillsammans med andra barn.",
        _ => "Berättar, ritar människa med detaljer, klarar sig självständigt.",
    }
}

/// Motor skills, language and assessment at the three child-health
/// development assessments (18 months, 2½ years, 4 years), when all is well.
pub const DEVELOPMENT_FINDINGS: [[&str; 3]; 3] = [
    [
        "Går själv och klättrar.",
        "Pekar och säger flera ord.",
        "Åldersadekvat utveckling.",
    ],
    [
        "Springer och hoppar jämfota.",
        "Talar i tvåordsmeningar.",
        "Åldersadekvat utveckling.",
    ],
    [
        "Cyklar med stödhjul, balanserar på ett ben.",
        "Berättar sammanhängande.",
        "Åldersadekvat utveckling.",
    ],
];

/// An assessment that finds something to follow up.
pub const DEVELOPMENT_CONCERN: [&str; 3] = [
    "Grovmotorik ua.",
    "Begränsat ordförråd för åldern.",
    "Språket följs upp vid nästa besök; logopedremiss vid behov.",
];

/// The family-situation lines of a child-health record: sensitive, and one
/// of the parts guardians may withhold from school health.
pub const FAMILY_SITUATION: &[&str] = &[
    "Bor med båda föräldrarna. Stabil familjesituation.",
    "Föräldrarna separerade; växelvis boende fungerar väl.",
    "Mamma har haft nedstämdhet efter förlossningen, fått stöd via BVC-psykolog.",
    "Familjen har flyttat under året; barnet har anpassat sig väl.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_use_a_comma() {
        assert_eq!(decimal(118.5, 1), "118,5");
        assert_eq!(decimal(21.0, 1), "21,0");
        assert_eq!(acuity(1.0), "1,0");
        assert_eq!(acuity(0.65), "0,65");
    }
}

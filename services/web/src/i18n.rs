//! The pages' words in Finnish (the default), Swedish and English, and dates in the Finnish form.

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Fi,
    Sv,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Fi, Lang::Sv, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fi => "fi",
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|lang| lang.code() == code)
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Fi => "Suomeksi",
            Lang::Sv => "På svenska",
            Lang::En => "In English",
        }
    }

    /// The page text for `key`; the key itself when it has none (a test finds those).
    pub fn t(self, key: &'static str) -> &'static str {
        TEXTS.iter().find(|(k, ..)| *k == key).map_or(key, |(_, fi, sv, en)| match self {
            Lang::Fi => fi,
            Lang::Sv => sv,
            Lang::En => en,
        })
    }
}

/// (key, Finnish, Swedish, English).
const TEXTS: &[(&str, &str, &str, &str)] = &[
    ("skip", "Siirry sisältöön", "Hoppa till innehållet", "Skip to content"),
    ("caseload", "Perheeni", "Mina familjer", "My caseload"),
    ("register", "Rekisteröi perhe", "Registrera en familj", "Register a family"),
    ("sign_in", "Kirjaudu", "Logga in", "Sign in"),
    ("sign_out", "Kirjaudu ulos", "Logga ut", "Sign out"),
    ("signed_in_as", "Kirjautuneena", "Inloggad som", "Signed in as"),
    ("language", "Kieli", "Språk", "Language"),
    ("dev_identity", "Kehitysympäristön käyttäjä", "Användare i utvecklingsmiljön", "Development identity"),
    (
        "dev_note",
        "Kehitysympäristö: valitse käyttäjä. Tuotannossa kirjautuminen tapahtuu organisaation tunnistuspalvelussa.",
        "Utvecklingsmiljö: välj en användare. I produktion loggar man in via organisationens identifieringstjänst.",
        "Development: pick an identity. In production you sign in with your organisation's identity provider.",
    ),
    (
        "no_sign_in",
        "Kirjautumista ei ole määritetty.",
        "Inloggning är inte konfigurerad.",
        "Sign-in is not configured.",
    ),
    ("family", "Perhe", "Familj", "Family"),
    ("municipality", "Kunta", "Kommun", "Municipality"),
    ("overdue_referrals", "Myöhässä olevat lähetteet", "Försenade remisser", "Overdue referrals"),
    ("lapsed_consents", "Päättyvät suostumukset", "Samtycken som upphör", "Consents ending"),
    ("actions_past_due", "Myöhässä olevat toimet", "Försenade åtgärder", "Actions past due"),
    ("follow_ups", "Seurannat", "Uppföljningar", "Follow-ups due"),
    ("meetings_week", "Tapaamiset tällä viikolla", "Möten denna vecka", "Meetings this week"),
    ("handover_pending", "Siirto odottaa", "Överlämning väntar", "Handover pending"),
    (
        "no_families",
        "Sinulla ei ole vielä perheitä.",
        "Du har inga familjer ännu.",
        "You have no families yet.",
    ),
    (
        "not_contact_person",
        "Et ole yhteyshenkilö, joten sinulla ei ole omia perheitä.",
        "Du är inte kontaktperson och har därför inga egna familjer.",
        "You are not a contact person, so you have no caseload.",
    ),
    ("status", "Tila", "Status", "Status"),
    ("status_active", "aktiivinen", "aktiv", "active"),
    ("status_closed", "suljettu", "avslutad", "closed"),
    ("status_erased", "poistettu", "raderad", "erased"),
    ("contact_person", "Yhteyshenkilö", "Kontaktperson", "Contact person"),
    ("none", "ei ole", "ingen", "none"),
    ("members", "Jäsenet", "Medlemmar", "Members"),
    ("guardian", "huoltaja", "vårdnadshavare", "guardian"),
    ("child", "lapsi", "barn", "child"),
    ("age", "ikä", "ålder", "age"),
    ("born", "syntynyt", "född", "born"),
    ("consents", "Suostumukset", "Samtycken", "Consents"),
    ("valid_until", "Voimassa asti", "Giltigt till", "Valid until"),
    ("ending_soon", "päättyy pian", "upphör snart", "ending soon"),
    ("sectors", "Sektorit", "Sektorer", "Sectors"),
    ("referrals", "Lähetteet", "Remisser", "Referrals"),
    ("waiting_days", "Odottanut päivää", "Väntat dagar", "Waiting days"),
    ("overdue", "myöhässä", "försenad", "overdue"),
    ("consent_lapsed", "suostumus päättynyt", "samtycket har upphört", "consent lapsed"),
    ("meetings_upcoming", "Tulevat tapaamiset", "Kommande möten", "Upcoming meetings"),
    ("meetings_past", "Pidetyt tapaamiset", "Hållna möten", "Past meetings"),
    ("open_actions", "Avoimet toimet", "Öppna åtgärder", "Open actions"),
    ("due", "määräaika", "senast", "due"),
    ("contacts", "Yhteydenotot", "Kontakter", "Contact log"),
    ("timeline", "Aikajana", "Tidslinje", "Timeline"),
    (
        "withheld",
        "Osa tiedoista ei näy sinulle:",
        "En del uppgifter visas inte för dig:",
        "Some parts are not shown to you:",
    ),
    ("nothing", "Ei merkintöjä.", "Inga uppgifter.", "Nothing recorded."),
    ("guardian_heading", "Huoltaja", "Vårdnadshavare", "Guardian"),
    ("child_heading", "Lapsi", "Barn", "Child"),
    ("given_names", "Etunimet", "Förnamn", "Given names"),
    ("family_name", "Sukunimi", "Efternamn", "Family name"),
    ("birth_date", "Syntymäaika (pp.kk.vvvv)", "Födelsedatum (dd.mm.åååå)", "Date of birth (dd.mm.yyyy)"),
    ("municipality_code", "Kuntakoodi (esim. 091)", "Kommunkod (t.ex. 091)", "Municipality code (e.g. 091)"),
    ("register_button", "Rekisteröi", "Registrera", "Register"),
    ("registered", "Perhe rekisteröity.", "Familjen har registrerats.", "The family is registered."),
    ("access_log", "Lokitiedot", "Loggen", "Access log"),
    ("back_to_family", "Takaisin perheeseen", "Tillbaka till familjen", "Back to the family"),
    ("when", "Aika", "Tid", "When"),
    ("who", "Kuka", "Vem", "Who"),
    ("what", "Mitä", "Vad", "What"),
    ("basis", "Peruste", "Grund", "Basis"),
    ("outcome", "Tulos", "Utfall", "Outcome"),
    ("allowed", "sallittu", "tillåten", "allowed"),
    ("denied", "estetty", "nekad", "denied"),
    ("next_page", "Seuraava sivu", "Nästa sida", "Next page"),
    ("grant_consent", "Anna suostumus", "Ge samtycke", "Grant a consent"),
    ("given_by", "Suostumuksen antaja", "Samtycket ges av", "Given by"),
    ("purpose", "Tarkoitus", "Syfte", "Purpose"),
    (
        "signed_form",
        "Allekirjoitetun lomakkeen tunnus",
        "Det undertecknade formulärets beteckning",
        "Signed form reference",
    ),
    (
        "signed_form_needed",
        "Suostumus vaatii allekirjoitetun lomakkeen tunnuksen.",
        "Samtycket kräver det undertecknade formulärets beteckning.",
        "A consent needs the reference of its signed form.",
    ),
    ("grant_button", "Tallenna suostumus", "Spara samtycket", "Save the consent"),
    ("consent_granted", "Suostumus tallennettu.", "Samtycket har sparats.", "The consent is saved."),
    ("fix_fields", "Korjaa merkityt kentät.", "Rätta de markerade fälten.", "Correct the fields marked."),
    (
        "error_not_found",
        "Tietoa ei löydy, tai sinulla ei ole siihen oikeutta.",
        "Uppgiften finns inte, eller så har du inte rätt till den.",
        "Not found, or not yours to see.",
    ),
    (
        "error_denied",
        "Sinulla ei ole oikeutta tähän.",
        "Du har inte rätt till detta.",
        "You may not do this.",
    ),
    ("error_rule", "Muutos rikkoo säännön:", "Ändringen bryter mot en regel:", "The change breaks a rule:"),
    (
        "error_conflict",
        "Joku muutti tietoja samaan aikaan. Katso tilanne ja yritä uudelleen.",
        "Någon ändrade uppgifterna samtidigt. Se efter och försök igen.",
        "Someone changed it meanwhile. Look again and retry.",
    ),
    (
        "error_unavailable",
        "Palvelu ei vastaa juuri nyt. Yritä hetken kuluttua uudelleen.",
        "Tjänsten svarar inte just nu. Försök igen om en stund.",
        "The service does not answer right now. Try again shortly.",
    ),
    (
        "error_session",
        "Istunto on päättynyt. Kirjaudu uudelleen.",
        "Sessionen har gått ut. Logga in igen.",
        "Your session has ended. Sign in again.",
    ),
    (
        "error_forged",
        "Lomake ei ole tästä istunnosta. Lataa sivu ja yritä uudelleen.",
        "Formuläret hör inte till denna session. Ladda om sidan och försök igen.",
        "The form is not from this session. Reload the page and try again.",
    ),
    (
        "error_other",
        "Jokin meni vikaan. Yritä uudelleen; jos vika jatkuu, ilmoita ylläpidolle.",
        "Något gick fel. Försök igen; om felet kvarstår, kontakta driften.",
        "Something went wrong. Try again; if it persists, tell an operator.",
    ),
];

/// A date as Finns write it: `4.12.2026`.
pub fn date(date: jiff::civil::Date) -> String {
    format!("{}.{}.{}", date.day(), date.month(), date.year())
}

/// A moment as a Finnish date and time in Finland: `4.12.2026 klo 14.05`.
pub fn moment(lang: Lang, at_ms: i64) -> String {
    let Ok(at) = jiff::Timestamp::from_millisecond(at_ms) else {
        return String::new();
    };
    let zoned = at.to_zoned(luukku_app::finnish_zone());
    let at_word = match lang {
        Lang::Fi => "klo",
        Lang::Sv => "kl.",
        Lang::En => "at",
    };
    format!("{} {at_word} {}.{:02}", date(zoned.date()), zoned.hour(), zoned.minute())
}

/// An ISO date (`2026-12-04`) in the Finnish form; the text itself when it is not one.
pub fn iso_date(text: &str) -> String {
    text.parse::<jiff::civil::Date>().map_or_else(|_| text.to_owned(), date)
}

/// A Finnish date (`4.12.2026`, or ISO) as ISO, for the services; `None` when it is neither.
pub fn parse_date(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return Some(date.to_string());
    }
    let mut parts = text.split('.').map(str::trim);
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |part: &str, most: usize| {
        !part.is_empty() && part.len() <= most && part.bytes().all(|b| b.is_ascii_digit())
    };
    // Day and month in one or two digits, the year in four: `4.12.26` is not taken as year 26.
    if parts.next().is_some() || !digits(day, 2) || !digits(month, 2) || !digits(year, 4) || year.len() != 4 {
        return None;
    }
    let date = jiff::civil::Date::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?).ok()?;
    Some(date.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_and_print_the_finnish_way() {
        assert_eq!(iso_date("2026-12-04"), "4.12.2026");
        assert_eq!(parse_date("4.12.2026").as_deref(), Some("2026-12-04"));
        assert_eq!(parse_date("2015-05-01").as_deref(), Some("2015-05-01"));
        assert_eq!(parse_date("31.2.2020"), None);
        assert_eq!(parse_date("4.12.26"), None, "a year in four digits");
        assert_eq!(parse_date("+4.12.2026"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn every_text_has_all_three_languages() {
        for (key, fi, sv, en) in TEXTS {
            assert!(!fi.is_empty() && !sv.is_empty() && !en.is_empty(), "{key}");
        }
        assert_eq!(Lang::Sv.t("sign_in"), "Logga in");
        assert_eq!(Lang::default(), Lang::Fi);
    }
}

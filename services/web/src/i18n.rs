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

    /// The word for a service code of `kind` (`sector`, `state`, `channel`, ...); the code
    /// itself when there is none.
    pub fn word(self, kind: &str, code: &str) -> String {
        CODES
            .iter()
            .find(|(k, ..)| k.split_once('.').is_some_and(|(of, value)| of == kind && value == code))
            .map_or_else(
                || code.to_owned(),
                |(_, fi, sv, en)| {
                    match self {
                        Lang::Fi => fi,
                        Lang::Sv => sv,
                        Lang::En => en,
                    }
                    .to_string()
                },
            )
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
    (
        "updated",
        "Perheen tiedot päivittyivät.",
        "Familjens uppgifter uppdaterades.",
        "The family's details were updated.",
    ),
    (
        "live_paused",
        "Sivu ei nyt päivity itsestään. Yritetään uudelleen; kirjaudu tarvittaessa sisään.",
        "Sidan uppdateras inte av sig själv just nu. Ett nytt försök görs; logga in vid behov.",
        "This page is not updating by itself now. Trying again; sign in if needed.",
    ),
    (
        "sign_in_provider",
        "Kirjaudu organisaation tunnuksilla",
        "Logga in med organisationens inloggning",
        "Sign in with your organisation",
    ),
    (
        "sign_in_failed",
        "Kirjautuminen ei onnistunut. Yritä uudelleen.",
        "Inloggningen misslyckades. Försök igen.",
        "The sign-in did not succeed. Try again.",
    ),
    ("signed_in", "Kirjauduttu – jatka", "Inloggad – fortsätt", "Signed in – continue"),
    ("menu", "Valikko", "Meny", "Menu"),
    ("inbox", "Saapuneet lähetteet", "Inkomna remisser", "Referral inbox"),
    ("assign", "Nimeä yhteyshenkilö", "Utse en kontaktperson", "Assign a contact person"),
    ("audit", "Lokitietojen tarkastus", "Granskning av loggen", "Access log review"),
    ("family_id", "Perheen tunnus", "Familjens beteckning", "Family id"),
    ("show", "Näytä", "Visa", "Show"),
    (
        "person_id",
        "Yhteyshenkilön käyttäjätunnus",
        "Kontaktpersonens användar-id",
        "The contact person's user id",
    ),
    ("reason", "Perustelu", "Motivering", "Reason"),
    ("assign_button", "Nimeä", "Utse", "Assign"),
    ("assigned", "Yhteyshenkilö nimetty.", "Kontaktpersonen har utsetts.", "The contact person is assigned."),
    (
        "handover_proposed",
        "Siirtoa ehdotettu; vastaanottaja hyväksyy sen.",
        "Överlämningen har föreslagits; mottagaren godkänner den.",
        "Handover proposed; the receiver accepts it.",
    ),
    (
        "handover",
        "Siirrä perhe toiselle yhteyshenkilölle",
        "Överlämna familjen till en annan kontaktperson",
        "Hand the family over",
    ),
    ("handover_button", "Ehdota siirtoa", "Föreslå överlämning", "Propose the handover"),
    (
        "handover_to_you",
        "Perhettä ehdotetaan sinulle:",
        "Familjen föreslås för dig:",
        "The family is offered to you by",
    ),
    (
        "handover_from_you",
        "Olet ehdottanut perheen siirtoa:",
        "Du har föreslagit att familjen överlämnas till",
        "You offered the family to",
    ),
    ("accept", "Hyväksy", "Godkänn", "Accept"),
    ("decline", "Kieltäydy", "Avböj", "Decline"),
    ("withdraw", "Peru", "Dra tillbaka", "Withdraw"),
    (
        "handover_accepted",
        "Siirto hyväksytty: olet perheen yhteyshenkilö.",
        "Överlämningen är godkänd: du är familjens kontaktperson.",
        "Handover accepted: you are the family's contact person.",
    ),
    ("handover_declined", "Siirrosta kieltäydytty.", "Överlämningen avböjdes.", "Handover declined."),
    ("handover_withdrawn", "Siirto peruttu.", "Överlämningen drogs tillbaka.", "Handover withdrawn."),
    ("log_contact", "Kirjaa yhteydenotto", "Anteckna en kontakt", "Log a contact"),
    ("with_whom", "Kenen kanssa", "Med vem", "With whom"),
    ("direction", "Suunta", "Riktning", "Direction"),
    ("inbound", "perhe otti yhteyttä", "familjen tog kontakt", "the family called"),
    ("outbound", "otin yhteyttä", "jag tog kontakt", "I called"),
    ("channel", "Kanava", "Kanal", "Channel"),
    ("needs", "Tarpeet", "Behov", "Needs"),
    ("summary", "Yhteenveto", "Sammanfattning", "Summary"),
    (
        "follow_up_date",
        "Seuranta (pp.kk.vvvv, valinnainen)",
        "Uppföljning (dd.mm.åååå, valfri)",
        "Follow-up (dd.mm.yyyy, optional)",
    ),
    ("log_button", "Kirjaa", "Anteckna", "Log it"),
    ("contact_logged", "Yhteydenotto kirjattu.", "Kontakten har antecknats.", "The contact is logged."),
    ("required", "Pakollinen tieto.", "Obligatorisk uppgift.", "Required."),
    (
        "municipality_form",
        "Anna kolminumeroinen kuntakoodi, esim. 091.",
        "Ange en tresiffrig kommunkod, t.ex. 091.",
        "Give a three-digit municipality code, e.g. 091.",
    ),
    ("too_long", "Liian pitkä.", "För lång.", "Too long."),
    ("offered", "Sinulle ehdotetut perheet", "Familjer som föreslås för dig", "Families offered to you"),
    ("to_form", "Siirry lomakkeeseen", "Gå till formuläret", "Go to the form"),
    ("revoked_by", "Peruuttaja", "Återkallas av", "Revoked by"),
    ("revoke", "Peru suostumus", "Återkalla samtycket", "Revoke"),
    ("consent_revoked", "Suostumus peruttu.", "Samtycket har återkallats.", "The consent is revoked."),
    ("make_referral", "Tee lähete", "Skicka en remiss", "Make a referral"),
    ("service", "Palvelu", "Tjänst", "Service"),
    ("concerns", "Koskee", "Gäller", "Concerns"),
    ("whole_family", "koko perhettä", "hela familjen", "the whole family"),
    ("urgency", "Kiireellisyys", "Brådska", "Urgency"),
    ("refer_button", "Lähetä", "Skicka", "Send"),
    ("referral", "Lähete", "Remiss", "Referral"),
    ("referral_sent", "Lähete lähetetty.", "Remissen har skickats.", "The referral is sent."),
    (
        "referral_stepped",
        "Lähetteen tila päivitetty.",
        "Remissens status har uppdaterats.",
        "The referral is updated.",
    ),
    (
        "possible_duplicates",
        "Samalle palvelulle on jo avoin lähete:",
        "Det finns redan en öppen remiss till samma tjänst:",
        "An open referral to the same service exists:",
    ),
    ("sent_at", "Lähetetty", "Skickad", "Sent"),
    ("deadline", "Käsiteltävä viimeistään", "Ska behandlas senast", "Deadline"),
    ("state", "Tila", "Status", "State"),
    ("history", "Vaiheet", "Händelser", "History"),
    ("step_receive", "Merkitse vastaanotetuksi", "Markera som mottagen", "Mark received"),
    ("step_accept", "Hyväksy asiakkaaksi", "Godkänn", "Accept"),
    ("step_reject", "Hylkää", "Avvisa", "Reject"),
    ("step_start", "Aloita palvelu", "Starta tjänsten", "Start the service"),
    ("step_complete", "Päätä palvelu", "Avsluta tjänsten", "Complete"),
    ("step_cancel", "Peru lähete", "Återkalla remissen", "Cancel the referral"),
    ("note", "Lisätieto", "Anteckning", "Note"),
    ("no_referrals", "Ei saapuneita lähetteitä.", "Inga inkomna remisser.", "No referrals."),
    ("open", "Avaa", "Öppna", "Open"),
    ("meetings", "Tapaamiset", "Möten", "Meetings"),
    ("meeting", "Tapaaminen", "Möte", "Meeting"),
    ("propose_meeting", "Ehdota verkostotapaamista", "Föreslå ett nätverksmöte", "Propose a network meeting"),
    ("description", "Kuvaus", "Beskrivning", "Description"),
    ("slot_date", "Päivä (pp.kk.vvvv)", "Dag (dd.mm.åååå)", "Day (dd.mm.yyyy)"),
    ("slot_time", "Kellonaika (tt.mm)", "Klockslag (tt.mm)", "Time (hh.mm)"),
    ("slot_minutes", "Kesto minuutteina", "Längd i minuter", "Length in minutes"),
    ("place", "Paikka tai etäyhteys", "Plats eller distanslänk", "Place or remote link"),
    ("participants", "Osallistujat", "Deltagare", "Participants"),
    ("propose_button", "Ehdota", "Föreslå", "Propose"),
    ("meeting_proposed", "Tapaamista ehdotettu.", "Mötet har föreslagits.", "The meeting is proposed."),
    ("slots", "Ehdotetut ajat", "Föreslagna tider", "Proposed times"),
    ("schedule_button", "Sovi tähän aikaan", "Boka denna tid", "Schedule at this time"),
    ("meeting_scheduled", "Tapaaminen sovittu.", "Mötet har bokats.", "The meeting is scheduled."),
    ("hold_meeting", "Kirjaa pidetty tapaaminen", "Anteckna det hållna mötet", "Record the meeting held"),
    ("attended", "Paikalla", "Närvarande", "Attended"),
    ("child_view", "Lapsen oma näkemys:", "Barnets egen syn:", "The child's own view:"),
    ("agreed_actions", "Sovitut toimet", "Överenskomna åtgärder", "Agreed actions"),
    ("action_what", "Toimi", "Åtgärd", "Action"),
    ("action_owner", "Vastuussa", "Ansvarig", "Owner"),
    ("action_due", "Määräaika (pp.kk.vvvv)", "Senast (dd.mm.åååå)", "Due (dd.mm.yyyy)"),
    ("me", "minä", "jag", "me"),
    ("hold_button", "Tallenna", "Spara", "Save"),
    ("meeting_held", "Tapaaminen kirjattu.", "Mötet har antecknats.", "The meeting is recorded."),
    ("action_done", "Tehty", "Klar", "Done"),
    ("mark_done", "Merkitse tehdyksi", "Markera som klar", "Mark done"),
    (
        "action_completed",
        "Toimi merkitty tehdyksi.",
        "Åtgärden har markerats som klar.",
        "The action is marked done.",
    ),
    ("scheduled_at", "Sovittu aika", "Bokad tid", "Scheduled"),
    ("held_at", "Pidetty", "Hölls", "Held"),
    (
        "date_form",
        "Anna päivämäärä muodossa pp.kk.vvvv.",
        "Ange datumet som dd.mm.åååå.",
        "Give the date as dd.mm.yyyy.",
    ),
    (
        "time_form",
        "Anna kellonaika muodossa tt.mm.",
        "Ange klockslaget som tt.mm.",
        "Give the time as hh.mm.",
    ),
    (
        "no_such_contact_person",
        "Tällä käyttäjätunnuksella ei ole yhteyshenkilöä.",
        "Ingen kontaktperson har detta användar-id.",
        "No contact person has this user id.",
    ),
    ("none_chosen", "valitse", "välj", "choose"),
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

/// Service codes in words: (kind.code, Finnish, Swedish, English).
const CODES: &[(&str, &str, &str, &str)] = &[
    ("sector.child_health_clinic", "neuvola", "rådgivning", "child health clinic"),
    ("sector.early_education", "varhaiskasvatus", "småbarnspedagogik", "early education"),
    ("sector.school", "koulu", "skola", "school"),
    ("sector.student_welfare", "opiskeluhuolto", "elevhälsa", "student welfare"),
    (
        "sector.family_social_services",
        "lapsiperheiden sosiaalipalvelut",
        "socialservice för barnfamiljer",
        "family social services",
    ),
    ("sector.child_protection", "lastensuojelu", "barnskydd", "child protection"),
    ("sector.mental_health", "mielenterveyspalvelut", "mentalvårdstjänster", "mental health services"),
    ("sector.family_counselling", "perheneuvola", "familjerådgivning", "family counselling"),
    ("sector.rehabilitation", "kuntoutusohjaus", "rehabiliteringshandledning", "rehabilitation"),
    ("sector.ngo_or_parish", "järjestö tai seurakunta", "organisation eller församling", "NGO or parish"),
    ("sector.other", "muu", "annan", "other"),
    ("state.requested", "lähetetty", "skickad", "sent"),
    ("state.received", "vastaanotettu", "mottagen", "received"),
    ("state.accepted", "hyväksytty", "godkänd", "accepted"),
    ("state.rejected", "hylätty", "avvisad", "rejected"),
    ("state.in_progress", "käynnissä", "pågår", "in progress"),
    ("state.on_hold", "tauolla", "pausad", "on hold"),
    ("state.completed", "päättynyt", "avslutad", "completed"),
    ("state.failed", "keskeytynyt", "misslyckad", "failed"),
    ("state.cancelled", "peruttu", "återkallad", "cancelled"),
    ("channel.phone", "puhelin", "telefon", "phone"),
    ("channel.walk_in", "käynti", "besök", "walk-in"),
    ("channel.chat", "chat", "chatt", "chat"),
    ("channel.email", "sähköposti", "e-post", "email"),
    ("channel.video", "video", "video", "video"),
    ("channel.home_visit", "kotikäynti", "hembesök", "home visit"),
    ("need.parenting", "vanhemmuus", "föräldraskap", "parenting"),
    ("need.child_development", "lapsen kehitys", "barnets utveckling", "child development"),
    ("need.learning", "oppiminen", "lärande", "learning"),
    ("need.mental_health", "mielenterveys", "psykisk hälsa", "mental health"),
    ("need.substance_use", "päihteet", "missbruk", "substance use"),
    ("need.finances", "talous", "ekonomi", "finances"),
    ("need.housing", "asuminen", "boende", "housing"),
    ("need.family_relationships", "perhesuhteet", "familjerelationer", "family relationships"),
    ("need.violence", "väkivalta", "våld", "violence"),
    ("need.health", "terveys", "hälsa", "health"),
    ("need.disability", "vammaisuus", "funktionsnedsättning", "disability"),
    ("need.loneliness", "yksinäisyys", "ensamhet", "loneliness"),
    ("need.other", "muu", "annat", "other"),
    ("purpose.support_planning", "tuen suunnittelu", "planering av stöd", "support planning"),
    ("purpose.school_support", "koulun tuki", "stöd i skolan", "school support"),
    (
        "purpose.early_education_support",
        "varhaiskasvatuksen tuki",
        "stöd i småbarnspedagogiken",
        "early education support",
    ),
    ("purpose.transition", "siirtymä", "övergång", "transition"),
    ("purpose.crisis", "kriisi", "kris", "crisis"),
    ("purpose.follow_up", "seuranta", "uppföljning", "follow-up"),
    ("purpose.other", "muu", "annat", "other"),
    ("meeting.proposed", "ehdotettu", "föreslaget", "proposed"),
    ("meeting.scheduled", "sovittu", "bokat", "scheduled"),
    ("meeting.held", "pidetty", "hållet", "held"),
    ("meeting.cancelled", "peruttu", "inställt", "cancelled"),
    ("urgency.normal", "tavallinen", "normal", "normal"),
    ("urgency.urgent", "kiireellinen", "brådskande", "urgent"),
    ("reject.no_capacity", "ei tilaa", "ingen kapacitet", "no capacity"),
    ("reject.not_eligible", "ei kuulu palvelun piiriin", "uppfyller inte villkoren", "not eligible"),
    ("reject.referred_elsewhere", "ohjattu muualle", "hänvisad till annan", "referred elsewhere"),
    ("reject.family_declined", "perhe kieltäytyi", "familjen avböjde", "the family declined"),
];

/// A service's account of what is wrong with a field, in the page's language where the page
/// knows it; the service's own words otherwise.
pub fn explain(lang: Lang, description: &str) -> String {
    let key = if description == "must not be empty" || description == "is required" {
        "required"
    } else if description.contains("is not a date") {
        "date_form"
    } else if description.contains("municipality code") {
        "municipality_form"
    } else if description.starts_with("must be at most") {
        "too_long"
    } else {
        return description.to_owned();
    };
    lang.t(key).to_owned()
}

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
    fn the_services_words_are_explained_in_the_pages_language() {
        assert_eq!(explain(Lang::Fi, "must not be empty"), "Pakollinen tieto.");
        assert_eq!(
            explain(Lang::Sv, "\"31.2.2015\" is not a date YYYY-MM-DD"),
            "Ange datumet som dd.mm.åååå."
        );
        assert_eq!(
            explain(Lang::Fi, "\"\" is not a three-digit municipality code such as \"091\""),
            "Anna kolminumeroinen kuntakoodi, esim. 091."
        );
        assert_eq!(
            explain(Lang::Fi, "a handover needs a reason"),
            "a handover needs a reason",
            "unknown: as said"
        );
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

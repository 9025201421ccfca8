//! The sectors of services a family deals with.

crate::wire_codes!(
    /// A sector of services.
    pub enum Sector, "sector" {
        /// Neuvola: maternity and child health clinic.
        ChildHealthClinic = "child_health_clinic",
        /// Varhaiskasvatus.
        EarlyEducation = "early_education",
        /// Koulu.
        School = "school",
        /// Opiskeluhuolto.
        StudentWelfare = "student_welfare",
        /// Lapsiperheiden sosiaalipalvelut.
        FamilySocialServices = "family_social_services",
        /// Lastensuojelu.
        ChildProtection = "child_protection",
        /// Lasten ja nuorten mielenterveyspalvelut.
        MentalHealth = "mental_health",
        /// Perheneuvola.
        FamilyCounselling = "family_counselling",
        /// Kuntoutusohjaus.
        Rehabilitation = "rehabilitation",
        /// Järjestöt ja seurakunnat.
        NgoOrParish = "ngo_or_parish",
        Other = "other",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for sector in Sector::ALL {
            assert_eq!(sector.as_code().parse::<Sector>(), Ok(*sector));
        }
        assert!("neuvola".parse::<Sector>().is_err());
    }
}

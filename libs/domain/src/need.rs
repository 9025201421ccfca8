//! What a family needs help with, and how a contact happened: codes shared by the contact log,
//! referrals and statistics.

crate::wire_codes!(
    /// A category of need.
    pub enum Need, "need category" {
        Parenting = "parenting",
        ChildDevelopment = "child_development",
        Learning = "learning",
        MentalHealth = "mental_health",
        SubstanceUse = "substance_use",
        Finances = "finances",
        Housing = "housing",
        FamilyRelationships = "family_relationships",
        Violence = "violence",
        Health = "health",
        Disability = "disability",
        Loneliness = "loneliness",
        Other = "other",
    }
);

crate::wire_codes!(
    /// How a contact happened.
    pub enum Channel, "channel" {
        Phone = "phone",
        WalkIn = "walk_in",
        Chat = "chat",
        Email = "email",
        Video = "video",
        HomeVisit = "home_visit",
    }
);

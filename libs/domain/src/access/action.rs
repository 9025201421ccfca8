//! Every call luukku answers, named once: its RPC, what kind of access it is, and the rule of
//! the policy that decides it.

/// What kind of access a call is, as the access log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessKind {
    Read,
    Write,
    Search,
    Export,
    Watch,
    /// Operating the system: rebuilds, the catalogue, the directory of contact persons.
    Admin,
}

impl AccessKind {
    pub const ALL: [AccessKind; 6] = [
        AccessKind::Read,
        AccessKind::Write,
        AccessKind::Search,
        AccessKind::Export,
        AccessKind::Watch,
        AccessKind::Admin,
    ];

    /// The lower-case token in audit subjects, e.g. `read`.
    pub fn token(self) -> &'static str {
        match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::Search => "search",
            AccessKind::Export => "export",
            AccessKind::Watch => "watch",
            AccessKind::Admin => "admin",
        }
    }

    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.token() == token)
    }
}

/// The rule of the policy a call is decided by: calls that ask the same question share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleSet {
    /// Registering a new family.
    RegisterFamily,
    /// A change to the family's own record, its contacts or its meetings: its contact person.
    FamilyWrite,
    /// Recording a consent.
    GrantConsent,
    /// Withdrawing a consent.
    RevokeConsent,
    /// Carrying out an approved erasure.
    Erase,
    /// Asking for a family's erasure: the family member, or a professional on their behalf.
    RequestErasure,
    /// Approving an erasure: the data-protection role.
    ApproveErasure,
    /// Reading the family, within the scope of the caller's relationship.
    FamilyRead,
    /// The contact log: professionals' internal notes.
    InternalNotes,
    /// Assigning a contact person or proposing a handover.
    Assign,
    /// Accepting or declining a handover: its receiver.
    HandoverDecision,
    /// Withdrawing a handover: its proposer.
    HandoverWithdraw,
    /// Ending a family's assignment: its contact person, or a supervisor.
    EndAssignment,
    /// Moving a whole caseload.
    TransferCaseload,
    /// Registering and changing contact persons.
    ManageContactPersons,
    /// The directory of contact persons and the service catalogue: no family data.
    Directory,
    /// A caller's own work list: caseload, follow-ups, meetings, actions, the sector's inbox.
    OwnWorkList,
    /// Changing the service catalogue.
    ManageCatalogue,
    /// An anonymous consultation: no family named.
    Consultation,
    /// Sending a referral.
    CreateReferral,
    /// A step of a referral.
    ReferralStep,
    /// Answering an invitation to a meeting.
    AnswerInvitation,
    /// Completing an agreed action.
    CompleteAction,
    /// Searching families.
    Search,
    /// Figures with no cell under five: no personal data.
    Statistics,
    /// Rebuilding the projection.
    Operate,
    /// The family's log report.
    AccessLog,
}

macro_rules! actions {
    ($($variant:ident = ($service:literal, $method:literal, $kind:ident, $rules:ident)),* $(,)?) => {
        /// One call of luukku's public API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant),*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The gRPC service the call belongs to, e.g. `luukku.families.v1.FamilyService`.
            pub fn service(self) -> &'static str {
                match self {
                    $(Action::$variant => $service),*
                }
            }

            /// The method, e.g. `RegisterFamily`.
            pub fn method(self) -> &'static str {
                match self {
                    $(Action::$variant => $method),*
                }
            }

            pub fn kind(self) -> AccessKind {
                match self {
                    $(Action::$variant => AccessKind::$kind),*
                }
            }

            pub fn rules(self) -> RuleSet {
                match self {
                    $(Action::$variant => RuleSet::$rules),*
                }
            }
        }
    };
}

actions! {
    RegisterFamily = ("luukku.families.v1.FamilyService", "RegisterFamily", Write, RegisterFamily),
    AddMember = ("luukku.families.v1.FamilyService", "AddMember", Write, FamilyWrite),
    UpdateMember = ("luukku.families.v1.FamilyService", "UpdateMember", Write, FamilyWrite),
    RemoveMember = ("luukku.families.v1.FamilyService", "RemoveMember", Write, FamilyWrite),
    ChangeMunicipality = ("luukku.families.v1.FamilyService", "ChangeMunicipality", Write, FamilyWrite),
    GrantConsent = ("luukku.families.v1.FamilyService", "GrantConsent", Write, GrantConsent),
    RevokeConsent = ("luukku.families.v1.FamilyService", "RevokeConsent", Write, RevokeConsent),
    LinkMember = ("luukku.families.v1.FamilyService", "LinkMember", Write, FamilyWrite),
    UnlinkMember = ("luukku.families.v1.FamilyService", "UnlinkMember", Write, FamilyWrite),
    CloseFamily = ("luukku.families.v1.FamilyService", "CloseFamily", Write, FamilyWrite),
    ReopenFamily = ("luukku.families.v1.FamilyService", "ReopenFamily", Write, FamilyWrite),
    EraseFamily = ("luukku.families.v1.FamilyService", "EraseFamily", Write, Erase),
    RequestErasure = ("luukku.families.v1.FamilyService", "RequestErasure", Write, RequestErasure),
    ApproveErasure = ("luukku.families.v1.FamilyService", "ApproveErasure", Write, ApproveErasure),
    GetFamily = ("luukku.families.v1.FamilyService", "GetFamily", Read, FamilyRead),
    ListFamilyHistory = ("luukku.families.v1.FamilyService", "ListFamilyHistory", Export, FamilyRead),

    RegisterContactPerson = ("luukku.contacts.v1.ContactService", "RegisterContactPerson", Admin, ManageContactPersons),
    UpdateContactPerson = ("luukku.contacts.v1.ContactService", "UpdateContactPerson", Admin, ManageContactPersons),
    DeactivateContactPerson = ("luukku.contacts.v1.ContactService", "DeactivateContactPerson", Admin, ManageContactPersons),
    GetContactPerson = ("luukku.contacts.v1.ContactService", "GetContactPerson", Read, Directory),
    AssignContactPerson = ("luukku.contacts.v1.ContactService", "AssignContactPerson", Write, Assign),
    AcceptHandover = ("luukku.contacts.v1.ContactService", "AcceptHandover", Write, HandoverDecision),
    DeclineHandover = ("luukku.contacts.v1.ContactService", "DeclineHandover", Write, HandoverDecision),
    WithdrawHandover = ("luukku.contacts.v1.ContactService", "WithdrawHandover", Write, HandoverWithdraw),
    EndAssignment = ("luukku.contacts.v1.ContactService", "EndAssignment", Write, EndAssignment),
    TransferCaseload = ("luukku.contacts.v1.ContactService", "TransferCaseload", Write, TransferCaseload),
    GetAssignment = ("luukku.contacts.v1.ContactService", "GetAssignment", Read, FamilyRead),
    RecordContact = ("luukku.contacts.v1.ContactService", "RecordContact", Write, FamilyWrite),
    CompleteFollowUp = ("luukku.contacts.v1.ContactService", "CompleteFollowUp", Write, FamilyWrite),
    RecordConsultation = ("luukku.contacts.v1.ContactService", "RecordConsultation", Write, Consultation),
    ListFamilyContacts = ("luukku.contacts.v1.ContactService", "ListFamilyContacts", Read, InternalNotes),
    ListFollowUpsDue = ("luukku.contacts.v1.ContactService", "ListFollowUpsDue", Read, OwnWorkList),

    RegisterService = ("luukku.referrals.v1.ReferralService", "RegisterService", Admin, ManageCatalogue),
    UpdateService = ("luukku.referrals.v1.ReferralService", "UpdateService", Admin, ManageCatalogue),
    PauseService = ("luukku.referrals.v1.ReferralService", "PauseService", Admin, ManageCatalogue),
    ResumeService = ("luukku.referrals.v1.ReferralService", "ResumeService", Admin, ManageCatalogue),
    RetireService = ("luukku.referrals.v1.ReferralService", "RetireService", Admin, ManageCatalogue),
    SearchServices = ("luukku.referrals.v1.ReferralService", "SearchServices", Read, Directory),
    CreateReferral = ("luukku.referrals.v1.ReferralService", "CreateReferral", Write, CreateReferral),
    UpdateReferral = ("luukku.referrals.v1.ReferralService", "UpdateReferral", Write, ReferralStep),
    GetReferral = ("luukku.referrals.v1.ReferralService", "GetReferral", Read, FamilyRead),
    ListReferrals = ("luukku.referrals.v1.ReferralService", "ListReferrals", Read, OwnWorkList),

    ProposeMeeting = ("luukku.meetings.v1.MeetingService", "ProposeMeeting", Write, FamilyWrite),
    AnswerInvitation = ("luukku.meetings.v1.MeetingService", "AnswerInvitation", Write, AnswerInvitation),
    ScheduleMeeting = ("luukku.meetings.v1.MeetingService", "ScheduleMeeting", Write, FamilyWrite),
    RescheduleMeeting = ("luukku.meetings.v1.MeetingService", "RescheduleMeeting", Write, FamilyWrite),
    CancelMeeting = ("luukku.meetings.v1.MeetingService", "CancelMeeting", Write, FamilyWrite),
    AddParticipant = ("luukku.meetings.v1.MeetingService", "AddParticipant", Write, FamilyWrite),
    RemoveParticipant = ("luukku.meetings.v1.MeetingService", "RemoveParticipant", Write, FamilyWrite),
    HoldMeeting = ("luukku.meetings.v1.MeetingService", "HoldMeeting", Write, FamilyWrite),
    CompleteAction = ("luukku.meetings.v1.MeetingService", "CompleteAction", Write, CompleteAction),
    ReassignAction = ("luukku.meetings.v1.MeetingService", "ReassignAction", Write, FamilyWrite),
    GetMeeting = ("luukku.meetings.v1.MeetingService", "GetMeeting", Read, FamilyRead),
    ListFamilyMeetings = ("luukku.meetings.v1.MeetingService", "ListFamilyMeetings", Read, FamilyRead),
    ListUpcomingMeetings = ("luukku.meetings.v1.MeetingService", "ListUpcomingMeetings", Read, OwnWorkList),
    ListOpenActions = ("luukku.meetings.v1.MeetingService", "ListOpenActions", Read, OwnWorkList),

    GetFamilyView = ("luukku.coordination.v1.CoordinationService", "GetFamilyView", Read, FamilyRead),
    ListCaseload = ("luukku.coordination.v1.CoordinationService", "ListCaseload", Read, OwnWorkList),
    GetTimeline = ("luukku.coordination.v1.CoordinationService", "GetTimeline", Read, FamilyRead),
    SearchFamilies = ("luukku.coordination.v1.CoordinationService", "SearchFamilies", Search, Search),
    GetStatistics = ("luukku.coordination.v1.CoordinationService", "GetStatistics", Read, Statistics),
    WatchFamily = ("luukku.coordination.v1.CoordinationService", "WatchFamily", Watch, FamilyRead),
    WatchCaseload = ("luukku.coordination.v1.CoordinationService", "WatchCaseload", Watch, OwnWorkList),
    GetAccessLog = ("luukku.coordination.v1.CoordinationService", "GetAccessLog", Read, AccessLog),
    Rebuild = ("luukku.coordination.v1.CoordinationAdmin", "Rebuild", Admin, Operate),
    BreakGlass = ("luukku.coordination.v1.CoordinationAdmin", "BreakGlass", Admin, Operate),
}

impl Action {
    /// The gRPC path, e.g. `/luukku.families.v1.FamilyService/RegisterFamily`.
    pub fn path(self) -> String {
        format!("/{}/{}", self.service(), self.method())
    }

    /// The action of the gRPC path `path`.
    pub fn of_path(path: &str) -> Option<Action> {
        let (service, method) = path.trim_start_matches('/').split_once('/')?;
        Self::ALL.iter().copied().find(|action| action.service() == service && action.method() == method)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method())
    }
}

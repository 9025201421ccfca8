//! Who may do what on NATS, defined once: one user per service, a read-only user for the
//! operators' tools, and an admin user that no service runs as. `luukku dev` and the files in
//! `deploy/` render these into the nats-server configuration.

use crate::Stream;
use crate::glass::GLASS_BUCKET;
use crate::keys::KEY_BUCKET;
use crate::links::LINK_BUCKET;
use crate::quarantine::{QUARANTINE_BUCKET, READERS_BUCKET};

/// A NATS user of a luukku deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatsUser {
    Families,
    Contacts,
    Referrals,
    Meetings,
    Coordination,
    /// `luukku ops` reading the streams: read only.
    Ops,
    /// Creating, reconfiguring, purging and deleting streams and buckets; never a service.
    Admin,
}

/// The subjects a user may publish to and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl NatsUser {
    /// The users services run as.
    pub const SERVICES: [NatsUser; 5] = [
        NatsUser::Families,
        NatsUser::Contacts,
        NatsUser::Referrals,
        NatsUser::Meetings,
        NatsUser::Coordination,
    ];

    pub const ALL: [NatsUser; 7] = [
        NatsUser::SERVICES[0],
        NatsUser::SERVICES[1],
        NatsUser::SERVICES[2],
        NatsUser::SERVICES[3],
        NatsUser::SERVICES[4],
        NatsUser::Ops,
        NatsUser::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NatsUser::Families => "families",
            NatsUser::Contacts => "contacts",
            NatsUser::Referrals => "referrals",
            NatsUser::Meetings => "meetings",
            NatsUser::Coordination => "coordination",
            NatsUser::Ops => "ops",
            NatsUser::Admin => "admin",
        }
    }

    /// The stream a service writes, if any.
    pub fn writes(self) -> Option<Stream> {
        match self {
            NatsUser::Families => Some(Stream::Families),
            NatsUser::Contacts => Some(Stream::Contacts),
            NatsUser::Referrals => Some(Stream::Referrals),
            NatsUser::Meetings => Some(Stream::Meetings),
            NatsUser::Coordination | NatsUser::Ops | NatsUser::Admin => None,
        }
    }

    /// The prefix of the user's reply subjects: its own, so that no user sees another's replies.
    pub fn inbox_prefix(self) -> String {
        format!("_INBOX_{}", self.name())
    }

    /// What the user may do, least privilege: read every stream and the key bucket (for
    /// loading aggregates, following streams and opening personal data), write only its own
    /// stream and the access log, and only the families service writes family keys.
    pub fn permissions(self) -> Permissions {
        if self == NatsUser::Admin {
            return Permissions { publish: vec![">".to_owned()], subscribe: vec![">".to_owned()] };
        }
        let mut publish = vec!["$JS.API.INFO".to_owned(), "$JS.API.STREAM.NAMES".to_owned()];
        let buckets = [KEY_BUCKET, LINK_BUCKET, GLASS_BUCKET, QUARANTINE_BUCKET, READERS_BUCKET]
            .map(|bucket| format!("KV_{bucket}"));
        let streams = Stream::ALL.iter().map(|stream| stream.name()).chain([crate::audit::AUDIT_STREAM]);
        for stream in streams.chain(buckets.iter().map(String::as_str)) {
            publish.extend(read_stream(stream));
        }
        if let Some(stream) = self.writes() {
            publish.push(format!("{}.>", stream.subject_root()));
        }
        if NatsUser::SERVICES.contains(&self) {
            // Every service records the accesses it answers, and reports its read models.
            publish.push(format!("{}.>", crate::audit::AUDIT_ROOT));
            publish.push(format!("$KV.{READERS_BUCKET}.>"));
        }
        if NatsUser::SERVICES.contains(&self) || self == NatsUser::Ops {
            // Read models quarantine what they cannot read; operators skip it.
            publish.push(format!("$KV.{QUARANTINE_BUCKET}.>"));
        }
        if self == NatsUser::Families {
            publish.push(format!("$KV.{KEY_BUCKET}.>"));
            publish.push(format!("$KV.{LINK_BUCKET}.>"));
        }
        if self == NatsUser::Coordination {
            // CoordinationAdmin gives operators break-glass access.
            publish.push(format!("$KV.{GLASS_BUCKET}.>"));
        }
        Permissions { publish, subscribe: vec![format!("{}.>", self.inbox_prefix())] }
    }
}

/// The JetStream API calls that read `stream`: its info, direct gets (any replica), the leader's
/// message get (to confirm a load was the latest), and ephemeral consumers.
fn read_stream(stream: &str) -> Vec<String> {
    [
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.STREAM.MSG.GET.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}.>"),
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.>"),
        format!("$JS.API.CONSUMER.INFO.{stream}.>"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.>"),
        format!("$JS.API.CONSUMER.NAMES.{stream}"),
        format!("$JS.API.CONSUMER.LIST.{stream}"),
    ]
    .into()
}

fn quoted(subjects: &[String]) -> String {
    subjects.iter().map(|subject| format!("\"{subject}\"")).collect::<Vec<_>>().join(", ")
}

/// The `authorization` block of a nats-server configuration giving each user (by its public
/// NKEY) its permissions.
pub fn server_authorization(users: &[(NatsUser, String)]) -> String {
    let mut block = String::from("authorization {\n  users = [\n");
    for (user, public_key) in users {
        let permissions = user.permissions();
        block.push_str(&format!(
            "    # {}\n    {{ nkey: \"{public_key}\", permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }} }} }}\n",
            user.name(),
            quoted(&permissions.publish),
            quoted(&permissions.subscribe),
        ));
    }
    block.push_str("  ]\n}\n");
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_writes_only_its_own_stream_and_only_families_writes_keys() {
        for user in NatsUser::ALL {
            let publish = user.permissions().publish;
            for stream in Stream::ALL {
                let own = user.writes() == Some(stream) || user == NatsUser::Admin;
                let writes = publish.iter().any(|s| *s == format!("{}.>", stream.subject_root()) || s == ">");
                assert_eq!(writes, own, "{user:?} {stream}");
            }
            // Any subject of the key bucket would do harm: a rollup header on one purges them all.
            let writes_keys =
                publish.iter().any(|subject| subject.starts_with("$KV.LUUKKU_FAMILY") || subject == ">");
            assert_eq!(writes_keys, matches!(user, NatsUser::Families | NatsUser::Admin), "{user:?}");
            let manages = publish.iter().any(|subject| {
                subject == ">"
                    || ["PURGE", "DELETE.", "CREATE.", "UPDATE."]
                        .iter()
                        .any(|what| subject.contains(&format!("$JS.API.STREAM.{what}")))
            });
            assert_eq!(manages, user == NatsUser::Admin, "{user:?}");
        }
    }
}

/// One NKEY per user in a folder (`<name>.nk`, readable by its owner only), made once: what
/// `luukku dev` and tests run their nats-server with.
#[derive(Debug, Clone)]
pub struct UserKeys {
    folder: std::path::PathBuf,
}

impl UserKeys {
    /// The seed file of `user` in `folder`.
    pub fn seed_path(folder: &std::path::Path, user: NatsUser) -> std::path::PathBuf {
        folder.join(format!("{}.nk", user.name()))
    }

    /// Makes a key for each user that has none in `folder`.
    pub fn create_or_open(folder: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::create_dir_all(folder)?;
        for user in NatsUser::ALL {
            let path = Self::seed_path(folder, user);
            if path.exists() {
                continue;
            }
            let pair = nkeys::KeyPair::new_user();
            let seed = zeroize::Zeroizing::new(pair.seed().map_err(std::io::Error::other)?);
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
            file.write_all(seed.as_bytes())?;
        }
        Ok(Self { folder: folder.to_owned() })
    }

    fn seed(&self, user: NatsUser) -> std::io::Result<zeroize::Zeroizing<String>> {
        read_seed(&Self::seed_path(&self.folder, user))
    }

    /// How `user` signs in.
    pub fn auth(&self, user: NatsUser) -> std::io::Result<crate::NatsAuth> {
        auth_from_seed_file(&Self::seed_path(&self.folder, user), user)
    }

    /// The `authorization` block for every user's public key.
    pub fn server_authorization(&self) -> std::io::Result<String> {
        let mut users = Vec::new();
        for user in NatsUser::ALL {
            let pair = nkeys::KeyPair::from_seed(&self.seed(user)?).map_err(std::io::Error::other)?;
            users.push((user, pair.public_key()));
        }
        Ok(server_authorization(&users))
    }
}

/// How a process given an NKEY seed file signs in as `user`.
pub fn auth_from_seed_file(path: &std::path::Path, user: NatsUser) -> std::io::Result<crate::NatsAuth> {
    Ok(crate::NatsAuth {
        nkey_seed: Some(read_seed(path)?),
        inbox_prefix: Some(user.inbox_prefix()),
        ..Default::default()
    })
}

/// A seed file's text, wiped from memory with the copies made on the way.
fn read_seed(path: &std::path::Path) -> std::io::Result<zeroize::Zeroizing<String>> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
    Ok(zeroize::Zeroizing::new(text.trim().to_owned()))
}

//! The key-encryption key that family keys are wrapped under: from a file or the environment,
//! never from NATS. `luukku dev` makes one in its data folder on its first start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use luukku_eventstore::{Kek, KeyRing, KeyWrapper};

/// The environment variable that may hold the key itself, base64 (a file is preferred).
const KEK_ENV: &str = "LUUKKU_KEK";

#[derive(Debug, Default, clap::Args)]
pub struct KekArgs {
    /// A file holding the key-encryption key (32 bytes, base64; `openssl rand -base64 32`),
    /// which family keys are wrapped under. Or give the key itself in LUUKKU_KEK.
    #[arg(long, env = "LUUKKU_KEK_FILE", global = true)]
    pub kek_file: Option<PathBuf>,
    /// Files of earlier key-encryption keys, which still open the keys they wrapped until
    /// `luukku ops rewrap-keys` has moved them to the current one.
    #[arg(long, env = "LUUKKU_PREVIOUS_KEK_FILES", value_delimiter = ',', global = true)]
    pub previous_kek_file: Vec<PathBuf>,
}

impl KekArgs {
    /// The key ring these arguments give; `fallback` is the file used when none is given.
    pub fn ring(&self, fallback: Option<&Path>) -> anyhow::Result<Arc<dyn KeyWrapper>> {
        let current = match (&self.kek_file, std::env::var(KEK_ENV).ok()) {
            (Some(path), _) => read(path)?,
            (None, Some(text)) => Kek::from_base64(&text).context(KEK_ENV)?,
            (None, None) => match fallback.filter(|path| path.exists()) {
                Some(path) => read(path)?,
                None => anyhow::bail!(
                    "no key-encryption key: pass --kek-file (or set LUUKKU_KEK_FILE or LUUKKU_KEK); \
                     family keys are stored wrapped under it"
                ),
            },
        };
        let previous =
            self.previous_kek_file.iter().map(|path| read(path)).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Arc::new(KeyRing::new(current, previous)))
    }
}

fn read(path: &Path) -> anyhow::Result<Kek> {
    Kek::from_file(path).with_context(|| format!("the key-encryption key in {}", path.display()))
}

/// Where `luukku dev` keeps its key-encryption key.
pub fn dev_kek_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("kek")
}

/// The key-encryption key of a `luukku dev` data folder, made on its first start (mode 0600).
pub fn dev_kek(data_dir: &Path) -> anyhow::Result<Arc<dyn KeyWrapper>> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dev_kek_path(data_dir);
    if !path.exists() {
        let folder = data_dir.join("keys");
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let kek = Kek::generate();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(kek.to_base64().as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Arc::new(KeyRing::new(read(&path)?, vec![])))
}

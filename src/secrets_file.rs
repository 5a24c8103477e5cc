//! Files that hold secrets: created with mode 0600 and never readable by others.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::crypto::CryptoError;

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a valid key file: {reason}")]
    Format { path: String, reason: String },
    #[error("{path} can be read by other users; run `chmod 600 {path}`")]
    Permissions { path: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn io(path: &Path, source: std::io::Error) -> SecretFileError {
    SecretFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a JSON secret file; `None` if it does not exist. Refuses a file that group
/// or others can read.
pub fn read_secret_file<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, SecretFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| io(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Permissions {
                path: path.display().to_string(),
            });
        }
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| SecretFileError::Format {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Creates a folder only its owner can enter (0700), if it does not exist yet: the
/// database and key files live there.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes a new secret file with mode 0600; never overwrites an existing one.
pub fn write_secret_file<T: Serialize>(path: &Path, value: &T) -> Result<(), SecretFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir).map_err(|e| io(dir, e))?;
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| io(path, e))?;
    let text = serde_json::to_vec_pretty(value).map_err(|e| SecretFileError::Format {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    f.write_all(&text).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

//! A real SMTP server for the tests: Debian's `aiosmtpd` (`python3 -m aiosmtpd`, installed by
//! .ci/run) writing what it receives into a Maildir, read back with Python's own e-mail parser
//! (`tests/tools/read_maildir.py`), so that what lienthong sends is checked by a reader that is
//! not ours.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::common;
use crate::common_server::wait_until;

/// The Python with Debian's `aiosmtpd` (not a pyenv interpreter that cannot see it).
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// A real SMTP server on a free port, keeping what it receives in a Maildir.
pub struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Smtp {
    pub fn start() -> Smtp {
        let maildir = tempfile::tempdir().expect("maildir");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let child = Command::new(DEBIAN_PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A folder that does not exist yet: Python's Maildir makes new/cur/tmp only then.
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (apt install python3-aiosmtpd)");
        let smtp = Smtp {
            child,
            port,
            maildir,
        };
        wait_until("the SMTP server listens", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        smtp
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The mails received so far, decoded by Python's e-mail parser.
    pub fn mails(&self) -> Vec<Value> {
        let out = Command::new(DEBIAN_PYTHON)
            .arg(common::root().join("tests/tools/read_maildir.py"))
            .arg(self.maildir.path().join("box"))
            .output()
            .expect("read the maildir");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

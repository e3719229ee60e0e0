//! A real Chromium driven over the DevTools protocol through a pipe (`--remote-debugging-pipe`:
//! JSON messages ending in NUL on file descriptors 3 and 4), so no WebSocket client is needed.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

pub struct Chromium {
    child: Child,
    to_browser: File,
    from_browser: Receiver<Value>,
    /// Events that arrived while waiting for something else.
    pending: VecDeque<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2 failed");
    (fds[0], fds[1])
}

impl Chromium {
    pub fn launch(binary: &str) -> Chromium {
        let profile = tempfile::tempdir().expect("profile dir");
        let (browser_reads, we_write) = pipe();
        let (we_read, browser_writes) = pipe();
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--metrics-recording-only",
                "--mute-audio",
                "--hide-scrollbars",
                "--window-size=1280,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(browser_reads, 3) < 0 || libc::dup2(browser_writes, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        // SAFETY: each descriptor came from pipe2 above and is owned by exactly one File from here on.
        let (to_browser, reader) = unsafe {
            libc::close(browser_reads);
            libc::close(browser_writes);
            (File::from_raw_fd(we_write), File::from_raw_fd(we_read))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        message.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&message)
                            && tx.send(v).is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        Chromium {
            child,
            to_browser,
            from_browser: rx,
            pending: VecDeque::new(),
            next_id: 1,
            session: None,
            _profile: profile,
        }
    }

    fn receive(&mut self, deadline: Instant, what: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.from_browser.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("Chromium did not answer in time: waiting for {what}"),
            Err(RecvTimeoutError::Disconnected) => panic!("Chromium went away while waiting for {what}"),
        }
    }

    /// Calls a DevTools method (on the attached page, once there is one) and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("json");
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("write to Chromium");
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.receive(deadline, method);
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            self.pending.push_back(v);
        }
    }

    /// Waits for an event (one that came earlier counts), returning its parameters.
    pub fn wait_for(&mut self, event: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|v| v["method"] == event) {
            return self.pending.remove(i).map(|v| v["params"].clone()).unwrap_or_default();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.receive(deadline, event);
            if v["method"] == event {
                return v["params"].clone();
            }
            self.pending.push_back(v);
        }
    }

    /// Forgets the events seen so far of one kind (before an action that will cause a new one).
    pub fn forget(&mut self, event: &str) {
        while let Ok(v) = self.from_browser.try_recv() {
            self.pending.push_back(v);
        }
        self.pending.retain(|v| v["method"] != event);
    }

    /// Every event of one kind seen so far.
    pub fn seen(&mut self, event: &str) -> Vec<Value> {
        while let Ok(v) = self.from_browser.try_recv() {
            self.pending.push_back(v);
        }
        self.pending.iter().filter(|v| v["method"] == event).map(|v| v["params"].clone()).collect()
    }

    /// Opens a fresh page and attaches to it; later calls go to that page.
    pub fn open_page(&mut self) {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("target id").to_owned();
        let attached = self.call("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}));
        self.session = Some(attached["sessionId"].as_str().expect("session id").to_owned());
        self.call("Page.enable", json!({}));
        self.call("Network.enable", json!({}));
        self.call("Runtime.enable", json!({}));
    }

    /// Loads `url` and waits until the page has loaded.
    pub fn navigate(&mut self, url: &str) {
        self.forget("Page.loadEventFired");
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("Page.loadEventFired");
    }

    /// Chooses `path` in the file input `selector`, as a user picking the file would.
    pub fn set_file(&mut self, selector: &str, path: &str) {
        let found =
            self.call("Runtime.evaluate", json!({"expression": format!("document.querySelector('{selector}')")}));
        let object =
            found["result"]["objectId"].as_str().unwrap_or_else(|| panic!("no {selector}: {found}")).to_owned();
        self.call("DOM.setFileInputFiles", json!({"files": [path], "objectId": object}));
    }

    /// Evaluates an expression in the page and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}));
        assert!(r.get("exceptionDetails").is_none(), "{expression} threw: {r}");
        r["result"]["value"].clone()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

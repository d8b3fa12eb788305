//! Scripted conversations: a file of customer turns, waits and expectations on what the bot
//! sends, played against a running server by `wabahook simulate script` (for CI). This module
//! reads and checks the file and decides whether a sent message meets an expectation; the
//! playing (HTTP, polling, time) is the command's.
//!
//! The format, TOML (or JSON, by the `.json` extension):
//!
//! ```toml
//! phone_number_id = "106540352242922"   # optional: the server's demo number
//! timeout_ms = 5000                     # optional: how long an expectation waits by default
//!
//! [customer]                            # who writes in (as in POST /simulate/inbound)
//! wa_id = "16505551234"
//! name = "Ana"
//!
//! [[steps]]
//! say = "Hi"                            # a text message
//!
//! [[steps]]
//! expect = { type = "interactive", contains = "What can I do", save_as = "menu" }
//!
//! [[steps]]
//! send = "interactive"                  # any inbound type, its payload named like it
//! interactive = { type = "button_reply", button_reply = { id = "track", title = "Track" } }
//! reply_to = "@menu"                    # "last" (default for replies), "@label" or a wamid
//!
//! [[steps]]
//! wait_ms = 500
//!
//! [[steps]]
//! expect = { type = "template", template = "order_status", within_ms = 10000 }
//! ```

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::inbound::{self, Content, CustomerIn};

/// A script that cannot be played, with the step it is about.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{0}")]
    File(String),
    #[error("step {step}: {message}")]
    Step { step: usize, message: String },
}

/// The default time an expectation waits for the bot.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    phone_number_id: Option<String>,
    customer: CustomerIn,
    timeout_ms: Option<u64>,
    steps: Vec<Map<String, Value>>,
}

/// A checked script.
#[derive(Debug, Clone)]
pub struct Script {
    pub phone_number_id: Option<String>,
    pub customer: CustomerIn,
    pub steps: Vec<Step>,
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The customer sends a message.
    Send(Send),
    /// Pause.
    Wait { ms: u64 },
    /// The bot sends a message like this within `within_ms`.
    Expect(Expect),
}

/// A customer's message: the body of `POST /admin/v1/simulate/inbound` without the number,
/// the customer and the context, which are settled when it is played.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub kind: String,
    /// The type's payload, files already read into `data_base64`.
    pub payload: Option<Value>,
    pub reply_to: Option<ReplyTo>,
    pub referral: Option<Value>,
    /// Another customer than the script's.
    pub from: Option<Value>,
    pub save_as: Option<String>,
}

/// Which message a reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// The bot's latest message.
    Last,
    /// A message saved with `save_as`.
    Label(String),
    Id(String),
}

/// What the bot must send.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The message type: `text`, `template`, `interactive`, `image`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Text the message shows (see [`visible_text`]).
    pub contains: Option<String>,
    /// The template's name, for `template` messages.
    pub template: Option<String>,
    pub within_ms: Option<u64>,
    pub save_as: Option<String>,
}

impl Expect {
    /// `type text containing "Hi" within 5000 ms`: how a failure names the expectation.
    pub fn describe(&self, default_timeout_ms: u64) -> String {
        let mut s = match &self.kind {
            Some(k) => format!("a {k} message"),
            None => "a message".to_owned(),
        };
        if let Some(t) = &self.template {
            s.push_str(&format!(" of template {t:?}"));
        }
        if let Some(c) = &self.contains {
            s.push_str(&format!(" containing {c:?}"));
        }
        s.push_str(&format!(
            " within {} ms",
            self.within_ms.unwrap_or(default_timeout_ms)
        ));
        s
    }

    /// Whether `m` meets this expectation.
    pub fn matches(&self, m: &SentMessage) -> bool {
        if self.kind.as_deref().is_some_and(|k| k != m.kind) {
            return false;
        }
        if let Some(t) = &self.template {
            let name = m.payload.pointer("/template/name").and_then(Value::as_str);
            if name != Some(t.as_str()) {
                return false;
            }
        }
        if let Some(c) = &self.contains {
            if !visible_text(m).contains(c.as_str()) {
                return false;
            }
        }
        true
    }
}

/// A message the bot sent, as the conversations API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub id: String,
    pub kind: String,
    /// The send request as the bot made it.
    pub payload: Value,
}

/// The text a message shows, for `contains`: every string inside its type's object (a text's
/// body, a caption, an interactive message's header, body, footer and button titles, a
/// template's name and parameters), one per line.
pub fn visible_text(m: &SentMessage) -> String {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    strings(m.payload.get(&m.kind).unwrap_or(&m.payload), &mut out);
    out.join("\n")
}

/// Reads a script file; relative media `file`s are read from the script's directory.
pub fn load(path: &Path) -> Result<Script, ScriptError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScriptError::File(format!("cannot read {}: {e}", path.display())))?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, json, base).map_err(|e| match e {
        ScriptError::File(m) => ScriptError::File(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Parses a script from TOML (or JSON) text.
pub fn parse(text: &str, json: bool, base: &Path) -> Result<Script, ScriptError> {
    let file: ScriptFile = if json {
        serde_json::from_str(text).map_err(|e| ScriptError::File(e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| ScriptError::File(e.to_string()))?
    };
    inbound::check_wa_id(&file.customer.wa_id, "customer.wa_id")
        .map_err(|e| ScriptError::File(e.to_string()))?;
    let timeout = file.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if file.steps.is_empty() {
        return Err(ScriptError::File("the script has no steps".into()));
    }
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut steps = Vec::with_capacity(file.steps.len());
    for (i, raw) in file.steps.into_iter().enumerate() {
        let n = i + 1;
        let err = |message: String| ScriptError::Step { step: n, message };
        let step = step(raw, base).map_err(err)?;
        match &step {
            Step::Send(s) => {
                if let Some(ReplyTo::Label(l)) = &s.reply_to {
                    if !labels.contains_key(l) {
                        return Err(err(format!("reply_to \"@{l}\" names no earlier save_as")));
                    }
                }
                if let Some(l) = &s.save_as {
                    labels.insert(l.clone(), n);
                }
            }
            Step::Expect(e) => {
                if let Some(l) = &e.save_as {
                    labels.insert(l.clone(), n);
                }
                if e.within_ms == Some(0) {
                    return Err(err("within_ms must be positive".into()));
                }
            }
            Step::Wait { .. } => {}
        }
        steps.push(step);
    }
    Ok(Script {
        phone_number_id: file.phone_number_id,
        customer: file.customer,
        steps: steps
            .into_iter()
            .map(|s| match s {
                Step::Expect(mut e) => {
                    e.within_ms.get_or_insert(timeout);
                    Step::Expect(e)
                }
                other => other,
            })
            .collect(),
    })
}

fn step(mut m: Map<String, Value>, base: &Path) -> Result<Step, String> {
    let actions: Vec<&str> = ["say", "send", "expect", "wait_ms"]
        .into_iter()
        .filter(|k| m.contains_key(*k))
        .collect();
    let [action] = actions.as_slice() else {
        return Err("a step has exactly one of say, send, expect or wait_ms".into());
    };
    match *action {
        "wait_ms" => {
            let ms = m
                .remove("wait_ms")
                .and_then(|v| v.as_u64())
                .ok_or("wait_ms must be a number of milliseconds")?;
            if let Some(k) = m.keys().next() {
                return Err(format!("unknown attribute {k:?} in a wait step"));
            }
            Ok(Step::Wait { ms })
        }
        "expect" => {
            let v = m.remove("expect").unwrap_or(Value::Null);
            if let Some(k) = m.keys().next() {
                return Err(format!(
                    "unknown attribute {k:?} in an expect step (put it inside expect)"
                ));
            }
            let e: Expect = serde_json::from_value(v).map_err(|e| format!("expect: {e}"))?;
            Ok(Step::Expect(e))
        }
        _ => {
            let (kind, payload) = if let Some(say) = m.remove("say") {
                let body = say.as_str().ok_or("say must be text")?.to_owned();
                ("text".to_owned(), Some(json!({ "body": body })))
            } else {
                let kind = m
                    .remove("send")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .ok_or("send must name a message type")?;
                let payload = m.remove(&kind);
                (kind, payload)
            };
            let reply_to = match m.remove("reply_to") {
                None => None,
                Some(Value::String(s)) if s == "last" => Some(ReplyTo::Last),
                Some(Value::String(s)) => match s.strip_prefix('@') {
                    Some(l) => Some(ReplyTo::Label(l.to_owned())),
                    None => Some(ReplyTo::Id(s)),
                },
                Some(_) => {
                    return Err("reply_to must be \"last\", \"@label\" or a message id".into())
                }
            };
            let referral = m.remove("referral");
            let from = m.remove("from");
            let save_as = match m.remove("save_as") {
                None => None,
                Some(Value::String(s)) => Some(s),
                Some(_) => return Err("save_as must be text".into()),
            };
            if let Some(k) = m.keys().next() {
                return Err(format!(
                    "unknown attribute {k:?} (the payload of type {kind:?} goes in {kind:?})"
                ));
            }
            let payload = match payload {
                Some(p) => Some(read_file(&kind, p, base)?),
                None => None,
            };
            // Checked now, so a bad turn fails before the conversation starts.
            let content = Content::parse(&kind, payload.as_ref()).map_err(|e| e.to_string())?;
            // Replies that Meta always sends with a context answer the bot's last message
            // unless told otherwise.
            let reply_to = reply_to.or_else(|| content.needs_context().then_some(ReplyTo::Last));
            if let Some(f) = &from {
                serde_json::from_value::<CustomerIn>(f.clone())
                    .map_err(|e| format!("from: {e}"))?;
            }
            Ok(Step::Send(Send {
                kind,
                payload,
                reply_to,
                referral,
                from,
                save_as,
            }))
        }
    }
}

/// A media payload's `file` read into `data_base64`, its MIME type guessed from the name
/// unless given.
fn read_file(kind: &str, payload: Value, base: &Path) -> Result<Value, String> {
    let Value::Object(mut p) = payload else {
        return Ok(payload);
    };
    let Some(file) = p.remove("file") else {
        return Ok(Value::Object(p));
    };
    let name = file.as_str().ok_or(format!("{kind}.file must be a path"))?;
    let path = base.join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    p.insert(
        "data_base64".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    if !p.contains_key("mime_type") {
        if let Some(mime) = mime_of(name) {
            p.insert("mime_type".into(), json!(mime));
        }
    }
    if kind == "document" && !p.contains_key("filename") {
        if let Some(f) = path.file_name().and_then(|f| f.to_str()) {
            p.insert("filename".into(), json!(f));
        }
    }
    Ok(Value::Object(p))
}

/// The MIME type of a file name's extension, for the types WhatsApp carries.
pub fn mime_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "ogg" | "opus" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => return None,
    })
}

impl Send {
    /// The request body for `POST /admin/v1/simulate/inbound`.
    pub fn request(&self, phone_number_id: &str, from: &Value, context: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert("phone_number_id".into(), json!(phone_number_id));
        body.insert(
            "from".into(),
            self.from.clone().unwrap_or_else(|| from.clone()),
        );
        body.insert("type".into(), json!(self.kind));
        if let Some(p) = &self.payload {
            body.insert(self.kind.clone(), p.clone());
        }
        if let Some(id) = context {
            body.insert("context".into(), json!({ "message_id": id }));
        }
        if let Some(r) = &self.referral {
            body.insert("referral".into(), r.clone());
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
timeout_ms = 3000

[customer]
wa_id = "16505551234"
name = "Ana"

[[steps]]
say = "Hi"

[[steps]]
expect = { type = "interactive", contains = "Track", save_as = "menu" }

[[steps]]
send = "interactive"
interactive = { type = "button_reply", button_reply = { id = "track", title = "Track" } }
reply_to = "@menu"

[[steps]]
wait_ms = 250

[[steps]]
send = "button"
button = { payload = "Stop" }

[[steps]]
expect = { type = "template", template = "order_status", within_ms = 10000 }
"#;

    #[test]
    fn a_script_reads_into_steps() {
        let s = parse(SCRIPT, false, Path::new(".")).unwrap();
        assert_eq!(s.customer.wa_id, "16505551234");
        assert_eq!(s.steps.len(), 6);
        let Step::Send(hi) = &s.steps[0] else {
            panic!()
        };
        assert_eq!(hi.kind, "text");
        assert_eq!(hi.reply_to, None);
        let Step::Expect(e) = &s.steps[1] else {
            panic!()
        };
        assert_eq!(e.within_ms, Some(3000));
        let Step::Send(tap) = &s.steps[2] else {
            panic!()
        };
        assert_eq!(tap.reply_to, Some(ReplyTo::Label("menu".into())));
        assert_eq!(s.steps[3], Step::Wait { ms: 250 });
        // A quick-reply button answers the bot's last message unless told otherwise.
        let Step::Send(b) = &s.steps[4] else { panic!() };
        assert_eq!(b.reply_to, Some(ReplyTo::Last));
        let body = b.request("1", &json!({"wa_id": "16505551234"}), Some("wamid.X"));
        assert_eq!(body["button"]["payload"], "Stop");
        assert_eq!(body["context"]["message_id"], "wamid.X");
        let Step::Expect(e) = &s.steps[5] else {
            panic!()
        };
        assert_eq!(e.within_ms, Some(10000));
    }

    #[test]
    fn the_same_script_reads_from_json() {
        let json = r#"{"customer": {"wa_id": "16505551234"},
            "steps": [{"say": "Hi"}, {"expect": {"type": "text"}}]}"#;
        let s = parse(json, true, Path::new(".")).unwrap();
        assert_eq!(s.steps.len(), 2);
    }

    #[test]
    fn bad_scripts_name_the_step() {
        let bad = [
            ("[customer]\nwa_id = \"1\"\n[[steps]]\nsay = \"x\"\n", "customer.wa_id"),
            ("[customer]\nwa_id = \"16505551234\"\n[[steps]]\nsay = \"x\"\nwait_ms = 3\n", "step 1"),
            ("[customer]\nwa_id = \"16505551234\"\n[[steps]]\nsend = \"text\"\ntext = { body = \"\" }\n", "step 1: text.body"),
            ("[customer]\nwa_id = \"16505551234\"\n[[steps]]\nsay = \"x\"\n[[steps]]\nsay = \"y\"\nreply_to = \"@nope\"\n", "step 2"),
            ("[customer]\nwa_id = \"16505551234\"\n[[steps]]\nexpect = { kind = \"text\" }\n", "step 1: expect"),
            ("[customer]\nwa_id = \"16505551234\"\n[[steps]]\nsay = \"x\"\ncolour = 1\n", "colour"),
            ("steps = []\n[customer]\nwa_id = \"16505551234\"\n", "no steps"),
        ];
        for (text, needle) in bad {
            let e = parse(text, false, Path::new(".")).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn expectations_match_what_the_bot_sent() {
        let text = SentMessage {
            id: "wamid.1".into(),
            kind: "text".into(),
            payload: json!({"to": "16505551234", "type": "text", "text": {"body": "Welcome, Ana!"}}),
        };
        let template = SentMessage {
            id: "wamid.2".into(),
            kind: "template".into(),
            payload: json!({"type": "template", "template": {"name": "order_status", "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "#1042"}]}]}}),
        };
        let e = |k: Option<&str>, c: Option<&str>, t: Option<&str>| Expect {
            kind: k.map(Into::into),
            contains: c.map(Into::into),
            template: t.map(Into::into),
            ..Expect::default()
        };
        assert!(e(Some("text"), Some("Welcome"), None).matches(&text));
        assert!(!e(Some("text"), Some("16505551234"), None).matches(&text));
        assert!(!e(Some("template"), None, None).matches(&text));
        assert!(e(None, Some("#1042"), Some("order_status")).matches(&template));
        assert!(!e(None, None, Some("hello_world")).matches(&template));
        assert_eq!(
            e(Some("text"), Some("Hi"), None).describe(5000),
            "a text message containing \"Hi\" within 5000 ms"
        );
    }

    #[test]
    fn media_files_are_read_next_to_the_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("photo.png"), b"\x89PNG").unwrap();
        let text = "[customer]\nwa_id = \"16505551234\"\n[[steps]]\nsend = \"image\"\nimage = { file = \"photo.png\", caption = \"this\" }\n";
        let s = parse(text, false, dir.path()).unwrap();
        let Step::Send(img) = &s.steps[0] else {
            panic!()
        };
        let p = img.payload.as_ref().unwrap();
        assert_eq!(p["mime_type"], "image/png");
        assert_eq!(p["data_base64"], "iVBORw==");
        assert!(p.get("file").is_none());
    }
}

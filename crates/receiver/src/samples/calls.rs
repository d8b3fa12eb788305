//! Samples of `calls`: connect and terminate events in both directions and business-initiated
//! call statuses, in the 2026 shape (business-scoped user ids, `contacts[]`).

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::user_preferences::contact_and_ids;
use super::{pick, Person, Sample, SampleContext};
use crate::fields::calls::*;

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn call_id(rng: &mut dyn RngCore) -> String {
    let mut s = String::from("wacid.HBgL");
    for _ in 0..40 {
        s.push(char::from(B64URL[rng.gen_range(0..B64URL.len())]));
    }
    s
}

/// A short but well-formed SDP (RFC 8866) of a WebRTC audio session.
fn sdp(rng: &mut dyn RngCore) -> String {
    let session: u64 = rng.gen_range(1_000_000_000_000_000..9_000_000_000_000_000);
    let port: u16 = rng.gen_range(10_000..60_000);
    format!(
        "v=0\r\no=- {session} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE audio\r\nm=audio {port} UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 157.240.0.{}\r\na=rtcp-mux\r\na=setup:actpass\r\na=mid:audio\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n",
        rng.gen_range(1..255u8)
    )
}

/// Copies the user's id attributes into `call` under `prefix` (`to`, `from`, `recipient`).
fn user_ids_into(call: &mut Map<String, Value>, prefix: &str, ids: &Map<String, Value>) {
    if let Some(w) = ids.get("wa_id") {
        let key = if prefix == "recipient" {
            "recipient_id".to_owned()
        } else {
            prefix.to_owned()
        };
        call.insert(key, w.clone());
    }
    if let Some(u) = ids.get("user_id") {
        call.insert(format!("{prefix}_user_id"), u.clone());
    }
    if let Some(p) = ids.get("parent_user_id") {
        call.insert(format!("{prefix}_parent_user_id"), p.clone());
    }
}

impl Sample for CallsValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let person = Person::random(rng);
        let (contact, ids) = contact_and_ids(rng, &person);
        let business_initiated = rng.gen_bool(0.5);
        let id = call_id(rng);
        let now = ctx.now - rng.gen_range(0..60);
        let mut v = Map::new();
        v.insert("messaging_product".into(), json!("whatsapp"));
        v.insert(
            "metadata".into(),
            json!({
                "display_phone_number": ctx.display_phone_number,
                "phone_number_id": ctx.phone_number_id,
            }),
        );
        let callback = (business_initiated && rng.gen_bool(0.5))
            .then(|| format!("call-{}", rng.gen_range(10_000..99_999u32)));

        let kind = pick(rng, &["connect", "terminate", "status"]);
        if kind == "status" {
            // Business-initiated calls only.
            let mut st = Map::new();
            st.insert("id".into(), json!(id));
            st.insert("type".into(), json!("call"));
            st.insert(
                "status".into(),
                json!(pick(rng, &["RINGING", "ACCEPTED", "REJECTED"])),
            );
            st.insert("timestamp".into(), json!(now.to_string()));
            user_ids_into(&mut st, "recipient", &ids);
            if let Some(c) = callback {
                st.insert("biz_opaque_callback_data".into(), json!(c));
            }
            v.insert("contacts".into(), json!([contact]));
            v.insert("statuses".into(), json!([Value::Object(st)]));
            return Value::Object(v);
        }

        let mut call = Map::new();
        call.insert("id".into(), json!(id));
        if business_initiated {
            user_ids_into(&mut call, "to", &ids);
            call.insert("from".into(), json!(ctx.display_phone_number));
        } else {
            call.insert("to".into(), json!(ctx.display_phone_number));
            user_ids_into(&mut call, "from", &ids);
        }
        call.insert("event".into(), json!(kind));
        call.insert("timestamp".into(), json!(now.to_string()));
        call.insert(
            "direction".into(),
            json!(if business_initiated {
                "BUSINESS_INITIATED"
            } else {
                "USER_INITIATED"
            }),
        );
        if kind == "connect" {
            // The user's offer on inbound calls, Meta's answer on outbound ones.
            let sdp_type = if business_initiated {
                "answer"
            } else {
                "offer"
            };
            call.insert(
                "session".into(),
                json!({ "sdp_type": sdp_type, "sdp": sdp(rng) }),
            );
        } else {
            let failed = rng.gen_bool(0.25);
            let duration: i64 = if failed { 0 } else { rng.gen_range(5..900) };
            let start = now - duration - rng.gen_range(0..5);
            call.insert(
                "status".into(),
                json!(if failed { "FAILED" } else { "COMPLETED" }),
            );
            if !failed {
                call.insert("start_time".into(), json!(start.to_string()));
                call.insert("end_time".into(), json!((start + duration).to_string()));
                call.insert("duration".into(), json!(duration));
            }
            if let Some(c) = callback {
                call.insert("biz_opaque_callback_data".into(), json!(c));
            }
        }
        v.insert("contacts".into(), json!([contact]));
        v.insert("calls".into(), json!([Value::Object(call)]));
        Value::Object(v)
    }
}

//! Request bodies read under a size limit, refused in a way ordinary clients can read.
//!
//! A server that answers 413 and closes while the client is still sending makes simple clients
//! (Python's `urllib`/`http.client`, many SDKs) fail with a broken pipe instead of showing the
//! status. So the rest of an oversized body is read and thrown away first, within a bound in
//! bytes and time; only a client that goes past both has its connection closed on it.

use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// How much of an oversized body is read and discarded before the 413 is sent.
const DRAIN_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long discarding may take.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// The client stopped sending or sent a broken body.
    Unreadable(String),
}

/// Reads `body` whole if it is at most `limit` bytes.
pub async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let read = buf.len() + data.len();
        if read > limit {
            discard_rest(body, read).await;
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// Reads what is left of `body` and drops it, within the drain bounds.
async fn discard_rest(mut body: Body, mut read: usize) {
    let drained = tokio::time::timeout(DRAIN_MAX_TIME, async move {
        while read <= DRAIN_MAX_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::debug!("gave up discarding an oversized request body");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_up_to_the_limit_are_read_and_longer_ones_refused() {
        let ok = read_limited(Body::from(vec![b'a'; 10]), 10).await.unwrap();
        assert_eq!(ok.len(), 10);
        assert!(matches!(
            read_limited(Body::from(vec![b'a'; 11]), 10).await,
            Err(BodyError::TooLarge)
        ));
        assert!(read_limited(Body::empty(), 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_rest_of_an_oversized_body_is_consumed() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let stream = tokio_stream_from(rx);
        let sender = tokio::spawn(async move {
            for _ in 0..100 {
                if tx.send(Ok(Bytes::from(vec![b'x'; 1024]))).await.is_err() {
                    return false;
                }
            }
            true
        });
        let r = read_limited(Body::from_stream(stream), 2048).await;
        assert!(matches!(r, Err(BodyError::TooLarge)));
        // Every chunk was taken: the sender never saw its receiver go away.
        assert!(sender.await.unwrap());
    }

    fn tokio_stream_from(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}

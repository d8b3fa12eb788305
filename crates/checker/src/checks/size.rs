//! Size: a body just under Meta's 3 MB limit, as a full batch can be.

use super::expect_200;
use crate::probe::Signing;
use crate::report::Check;
use crate::Run;

/// Meta: "Webhook payloads can be up to 3 MB."
const LIMIT: usize = 3_000_000;

pub async fn run(run: &Run<'_>) -> Check {
    let (body, count) = run.payloads.near(LIMIT);
    let got = run.probe.post(&body, Signing::Correct).await;
    expect_200(
        Check::new(
            "size.near_limit",
            "a body near Meta's 3 MB limit is acknowledged",
        )
        .sent(format!(
            "POST, {} bytes: {count} messages changes in one entry",
            body.len()
        )),
        &got,
        "accept bodies of up to 3 MB: raise your framework's or proxy's body limit (Express \
         json/raw limit, nginx client_max_body_size, …)",
    )
}

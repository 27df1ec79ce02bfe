//! Login throttling shared through Redis: wrong keys sent to one admin process lock the address
//! out on every other; while Redis is away each process counts on its own.

use std::net::IpAddr;
use std::time::Duration;

use gateway_admin::login_throttle::{LoginThrottle, MAX_FAILURES};
use gateway_cluster::ClusterLink;
use gateway_testkit::TestRedis;

#[tokio::test]
async fn wrong_keys_on_one_node_lock_the_address_out_on_the_others() {
    let Some(redis) = TestRedis::start().await.expect("test redis") else {
        return;
    };
    let node = || {
        LoginThrottle::new(Some(
            ClusterLink::new(&redis.dsn(), redis.prefix()).unwrap(),
        ))
    };
    let (a, b) = (node(), node());
    let ip: IpAddr = "198.51.100.7".parse().unwrap();
    let other: IpAddr = "198.51.100.8".parse().unwrap();
    for _ in 0..MAX_FAILURES - 1 {
        a.failed(ip).await;
    }
    assert_eq!(b.locked(ip).await, None, "below the limit");
    b.failed(ip).await;
    let wait = a
        .locked(ip)
        .await
        .expect("locked on the node that saw four");
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(b.locked(ip).await.is_some());
    assert_eq!(
        a.locked(other).await,
        None,
        "other addresses are not affected"
    );
    b.succeeded(ip).await;
    assert_eq!(
        a.locked(ip).await,
        None,
        "a right key clears the count everywhere"
    );

    // Redis away: each node counts on its own (and says so once in its log).
    redis.stop();
    let c = node();
    for _ in 0..MAX_FAILURES {
        c.failed(other).await;
    }
    assert!(c.locked(other).await.is_some(), "locked locally");
    assert_eq!(
        a.locked(other).await,
        None,
        "not shared while Redis is away"
    );
}

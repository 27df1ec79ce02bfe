//! The cluster link against the test Redis: messages reach the other nodes and not the sender,
//! the subscription stays up across its keep-alive pings, and it comes back after an outage.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use gateway_cluster::{ClusterLink, ClusterMessage, LinkEvent};
use gateway_testkit::TestRedis;
use tokio::sync::mpsc;

async fn next(events: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the subscription runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_flow_between_nodes_and_the_link_survives_pings_and_outages() {
    let Some(redis) = TestRedis::start().await.unwrap() else {
        return;
    };
    let a = ClusterLink::new(&redis.dsn(), redis.prefix()).unwrap();
    let b = ClusterLink::new(&redis.dsn(), redis.prefix()).unwrap();
    let (tx, mut events) = mpsc::channel(16);
    let listener = b.clone();
    tokio::spawn(async move { listener.run_subscription(tx).await });
    assert!(matches!(
        next(&mut events).await,
        LinkEvent::Subscribed { again: false }
    ));
    assert!(b.is_subscribed());

    let revision = ClusterMessage::Revision { revision: 7 };
    b.publish(&ClusterMessage::Revision { revision: 6 })
        .await
        .unwrap();
    a.publish(&revision).await.unwrap();
    match next(&mut events).await {
        LinkEvent::Message(m) => assert_eq!(m, revision, "its own message is not delivered to b"),
        other => panic!("{other:?}"),
    }

    // Longer than the keep-alive ping: nothing is lost, nothing reconnects.
    let quiet = tokio::time::timeout(Duration::from_millis(2500), events.recv()).await;
    assert!(quiet.is_err(), "no event while idle: {quiet:?}");
    assert!(b.is_subscribed());

    redis.stop();
    assert!(matches!(next(&mut events).await, LinkEvent::Lost));
    assert!(!b.is_subscribed());
    assert!(
        a.publish(&revision).await.is_err(),
        "publishing fails fast while Redis is away"
    );
    redis.restart().await.unwrap();
    assert!(matches!(
        next(&mut events).await,
        LinkEvent::Subscribed { again: true }
    ));
    a.publish(&revision).await.unwrap();
    assert!(matches!(next(&mut events).await, LinkEvent::Message(_)));
}

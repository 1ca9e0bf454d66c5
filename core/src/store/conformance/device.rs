//! Checks of [`DeviceStore`]: save, load, create, snapshot.

use super::*;

/// Device: nothing at first, save/load round trip of every field, overwrite.
pub async fn device_save_load<S: DeviceStore + ?Sized>(s: &S) {
    let c = Check("device::save_load");
    c.eq(
        c.ok(s.exists().await, "exists"),
        false,
        "a fresh store has no device",
    );
    c.eq(
        c.ok(s.load().await, "load"),
        None,
        "a fresh store loads no device",
    );
    let minimal = Device::from_keys(DeviceKeys {
        noise_key: key_pair(1),
        identity_key: key_pair(2),
        registration_id: 1,
        signed_pre_key: key_pair(3),
        signed_pre_key_id: 1,
        signed_pre_key_signature: [0; 64],
        adv_secret_key: [9; 32],
    });
    c.ok(s.save(&minimal).await, "save");
    c.eq(
        c.ok(s.exists().await, "exists"),
        true,
        "exists is true after save",
    );
    c.eq(
        c.ok(s.load().await, "load"),
        Some(minimal),
        "save then load returns the device",
    );
    let full = full_device(7);
    c.ok(s.save(&full).await, "save");
    c.eq(
        c.ok(s.load().await, "load"),
        Some(full.clone()),
        "a second save replaces the device, every field round-trips",
    );
    let mut bumped = full;
    bumped.login_counter += 1;
    bumped.pn = None;
    bumped.server_cert_chain = None;
    c.ok(s.save(&bumped).await, "save");
    c.eq(
        c.ok(s.load().await, "load"),
        Some(bumped),
        "save replaces optional fields with None too",
    );
}

/// `create` returns positive ids that differ from every earlier one.
pub async fn device_create<S: DeviceStore + ?Sized>(s: &S) {
    let c = Check("device::create");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(c.ok(s.create().await, "create"));
    }
    c.truth(
        ids.iter().all(|&id| id > 0),
        "create returns positive device ids",
    );
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    c.eq(
        unique.len(),
        ids.len(),
        "create never returns the same id twice",
    );
    c.eq(
        c.ok(s.exists().await, "exists"),
        false,
        "create does not save a device for this handle",
    );
}

/// `snapshot_db` succeeds with and without an extra blob, twice under one
/// name, and leaves the live data unchanged.
pub async fn device_snapshot<S: DeviceStore + ?Sized>(s: &S) {
    let c = Check("device::snapshot");
    c.ok(
        s.snapshot_db("empty", None).await,
        "snapshot_db of an empty store",
    );
    let device = full_device(3);
    c.ok(s.save(&device).await, "save");
    c.ok(
        s.snapshot_db("after-save", Some(b"the input that failed"))
            .await,
        "snapshot_db with an extra blob",
    );
    c.ok(
        s.snapshot_db("after-save", Some(&pattern(1, 1 << 16)))
            .await,
        "snapshot_db twice under one name",
    );
    c.ok(
        s.snapshot_db("ünïcödé name", Some(b"")).await,
        "snapshot_db with a Unicode name and an empty blob",
    );
    c.eq(
        c.ok(s.load().await, "load"),
        Some(device),
        "snapshot_db leaves the live data unchanged",
    );
}

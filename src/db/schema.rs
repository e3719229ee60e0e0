//! Table definitions shared by both backends (only column types both support).

diesel::table! {
    app_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    regions (code) {
        code -> Text,
        name -> Text,
        level -> Text,
        parent_code -> Nullable<Text>,
        /// Codes from the root down to this region, `/`-joined with a trailing `/`, for containment by prefix.
        path -> Text,
        assisted_mark -> Bool,
        national -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        region_code -> Text,
        parent_id -> Nullable<Text>,
        /// Ids from the top organisation down to this one, `/`-joined with a trailing `/`.
        path -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        email -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    products (id) {
        id -> Text,
        producer_id -> Text,
        name -> Text,
        category -> Text,
        description -> Text,
        origin_region_code -> Text,
        origin_path -> Text,
        unit -> Text,
        spec -> Text,
        net_weight_g -> Nullable<BigInt>,
        price_fen -> BigInt,
        price_per_500g_fen -> Nullable<BigInt>,
        /// JSON: `[{"min_qty": n, "price_fen": n}]`, min_qty ascending.
        tiers -> Text,
        min_order_qty -> BigInt,
        stock -> BigInt,
        storage -> Text,
        shelf_life_days -> Nullable<BigInt>,
        /// JSON array of URLs.
        images -> Text,
        status -> Text,
        cert_status -> Text,
        certificate_no -> Nullable<Text>,
        cert_valid_until -> Nullable<Date>,
        rating_sum -> BigInt,
        rating_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    certification_requests (id) {
        id -> Text,
        product_id -> Text,
        status -> Text,
        benefit_mechanism -> Text,
        /// JSON: `[{"kind", "name", "url"}]`.
        documents -> Text,
        submitted_by -> Text,
        submitted_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        certificate_no -> Nullable<Text>,
        valid_until -> Nullable<Date>,
    }
}

diesel::table! {
    certification_events (id) {
        id -> Text,
        product_id -> Text,
        request_id -> Nullable<Text>,
        action -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        /// JSON with what the decision concerned (certificate number, validity, price check).
        details -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    batches (id) {
        id -> Text,
        product_id -> Text,
        batch_no -> Text,
        produced_on -> Date,
        quantity -> BigInt,
        inspection_report_url -> Nullable<Text>,
        trace_code -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        topic -> Text,
        payload -> Text,
        created_at -> Timestamp,
        available_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(organizations -> regions (region_code));
diesel::joinable!(products -> organizations (producer_id));
diesel::joinable!(products -> regions (origin_region_code));
diesel::joinable!(certification_requests -> products (product_id));
diesel::joinable!(certification_events -> products (product_id));
diesel::joinable!(batches -> products (product_id));
diesel::joinable!(users -> organizations (org_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_meta,
    regions,
    organizations,
    users,
    sessions,
    login_failures,
    products,
    certification_requests,
    certification_events,
    batches,
    outbox,
);

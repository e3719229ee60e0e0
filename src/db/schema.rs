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

diesel::joinable!(organizations -> regions (region_code));
diesel::joinable!(users -> organizations (org_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(app_meta, regions, organizations, users, sessions, login_failures);

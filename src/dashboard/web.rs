//! Rendering pages: the templates, the security headers every page carries, and errors as a
//! page for browsers (problem+json for everyone else, as in the API).

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;
use serde_json::json;

use crate::error::{AppError, AppResult, problem_response};

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("order.html", include_str!("templates/order.html")),
    ("bulletin.html", include_str!("templates/bulletin.html")),
    ("live.html", include_str!("templates/live.html")),
    ("live_list.html", include_str!("templates/live_list.html")),
    ("error.html", include_str!("templates/error.html")),
    // The workplaces' pages share this layout, sign-in and headers (their handlers live there).
    ("producer_header.html", include_str!("../workplace/templates/producer_header.html")),
    ("producer_home.html", include_str!("../workplace/templates/producer_home.html")),
    ("producer_orders.html", include_str!("../workplace/templates/producer_orders.html")),
    ("producer_sub_order.html", include_str!("../workplace/templates/producer_sub_order.html")),
    ("packing.html", include_str!("../workplace/templates/packing.html")),
    ("producer_products.html", include_str!("../workplace/templates/producer_products.html")),
    ("agency_header.html", include_str!("../workplace/templates/agency_header.html")),
    ("agency_home.html", include_str!("../workplace/templates/agency_home.html")),
    ("agency_orders.html", include_str!("../workplace/templates/agency_orders.html")),
    ("agency_order.html", include_str!("../workplace/templates/agency_order.html")),
    ("agency_sheets.html", include_str!("../workplace/templates/agency_sheets.html")),
    ("agency_sheet.html", include_str!("../workplace/templates/agency_sheet.html")),
    ("agency_cart.html", include_str!("../workplace/templates/agency_cart.html")),
    ("sheet_upload.html", include_str!("../workplace/templates/sheet_upload.html")),
    ("agency_goods.html", include_str!("../workplace/templates/agency_goods.html")),
    ("product_fields.html", include_str!("../workplace/templates/product_fields.html")),
    ("producer_product_new.html", include_str!("../workplace/templates/producer_product_new.html")),
    ("producer_product.html", include_str!("../workplace/templates/producer_product.html")),
    ("agency_group_buys.html", include_str!("../workplace/templates/agency_group_buys.html")),
    ("agency_group_buy.html", include_str!("../workplace/templates/agency_group_buy.html")),
    ("trace.html", include_str!("../workplace/templates/trace.html")),
];

/// Nothing but this site: no script at all, styles and images from here (charts are inline SVG).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // Compiled in and rendered by the tests: a broken one is a build defect.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "page template does not parse");
            }
        }
        env
    })
}

pub fn render<S: Serialize>(name: &str, context: &S) -> AppResult<String> {
    let template = environment().get_template(name).map_err(|e| anyhow::anyhow!("page template {name}: {e}"))?;
    Ok(template.render(context).map_err(|e| anyhow::anyhow!("rendering {name}: {e}"))?)
}

/// A page with the headers every page carries.
pub fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Our own forms then carry a real Origin, which the form handlers check.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

fn heading(status: u16) -> &'static str {
    match status {
        400 => "请求有误",
        401 => "请先登录",
        403 => "无权查看",
        404 => "没有找到",
        409 => "状态冲突",
        422 => "输入有误",
        429 => "尝试次数过多",
        503 => "服务暂时不可用",
        _ => "出错了",
    }
}

/// An error as a page (with the problem's status, code and fields) or as problem+json.
pub fn error_page(headers: &HeaderMap, err: AppError) -> Response {
    let problem = err.to_problem();
    if problem.status >= 500 {
        tracing::error!(error = %err, code = %problem.code, "page failed");
    }
    if !wants_html(headers) {
        return problem_response(&problem);
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let context = json!({
        "title": heading(problem.status),
        "status": problem.status,
        "code": problem.code,
        "detail": problem.detail,
        "errors": problem.errors,
    });
    let html = render("error.html", &context).unwrap_or_else(|_| format!("{} {}", problem.status, problem.code));
    let mut response = page(status, html);
    if let Some(secs) = problem.retry_after_secs {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A handler's outcome: the page, or its error shown the way the client reads errors.
pub fn respond(headers: &HeaderMap, result: AppResult<Response>) -> Response {
    result.unwrap_or_else(|e| error_page(headers, e))
}

//! Routes outside the OpenAPI document (pages, probes, the document itself), each declared with
//! its methods, so that the whole route list can be read without serving: the authorisation
//! matrix test is generated from it, and a route added without an entry there fails that test.

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::state::AppState;

pub struct RouteTable {
    router: Router<AppState>,
    routes: Vec<(Method, &'static str)>,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable { router: Router::new(), routes: Vec::new() }
    }
}

impl RouteTable {
    /// `methods` are the methods `handler` answers; the list is what the route list reports.
    pub fn route(mut self, path: &'static str, methods: &[Method], handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self.routes.extend(methods.iter().map(|m| (m.clone(), path)));
        self
    }

    pub fn merge(mut self, other: RouteTable) -> Self {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }

    pub fn routes(&self) -> &[(Method, &'static str)] {
        &self.routes
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

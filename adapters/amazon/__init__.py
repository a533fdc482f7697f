"""Amazon Seller Central over SP-API: orders in, tracking and quantities out (`sortyard adapter
amazon`), and a local SP-API sandbox (`sortyard sandbox amazon`)."""

from adapters.amazon._adapter import (
    AdapterConfig,
    AmazonAdapter,
    CycleReport,
    NotificationError,
    carrier_code,
)
from adapters.amazon._credentials import (
    CredentialsError,
    LwaCredentials,
    Secret,
    SecretRedactingFilter,
    load_credentials,
)
from adapters.amazon._demo import run_amazon_demo
from adapters.amazon._feeds import FeedOutcome, build_quantity_feed, read_processing_report
from adapters.amazon._gateway import (
    RetryPolicy,
    SpApiError,
    SpApiGateway,
    SpApiOutcomeUnknownError,
    SpApiUnavailableError,
)
from adapters.amazon._metrics import AdapterMetrics
from adapters.amazon._orders import (
    AmazonLine,
    AmazonOrder,
    OrderMappingError,
    from_orders_2026,
    from_orders_v0,
    to_sortyard_order,
)
from adapters.amazon._rates import PUBLISHED_RATES, UsagePlan
from adapters.amazon._refunds import (
    PAYMENT_ADJUSTMENT_FEED,
    RefundItem,
    build_adjustment_feed,
    read_adjustment_report,
)
from adapters.amazon._returns_report import (
    RETURNS_REPORT_TYPE,
    AmazonReturn,
    ReturnsReportError,
    parse_returns_report,
)
from adapters.amazon._runner import AdapterOptions, build_adapter, run_adapter
from adapters.amazon._skus_csv import CatalogCsvError, read_catalog_csv
from adapters.amazon._state import AdapterState
from adapters.amazon._throttle import RateLimiter, TokenBucket

__all__ = [
    "PAYMENT_ADJUSTMENT_FEED",
    "PUBLISHED_RATES",
    "RETURNS_REPORT_TYPE",
    "AdapterConfig",
    "AdapterMetrics",
    "AdapterOptions",
    "AdapterState",
    "AmazonAdapter",
    "AmazonLine",
    "AmazonOrder",
    "AmazonReturn",
    "CatalogCsvError",
    "CredentialsError",
    "CycleReport",
    "FeedOutcome",
    "LwaCredentials",
    "NotificationError",
    "OrderMappingError",
    "RateLimiter",
    "RefundItem",
    "RetryPolicy",
    "ReturnsReportError",
    "Secret",
    "SecretRedactingFilter",
    "SpApiError",
    "SpApiGateway",
    "SpApiOutcomeUnknownError",
    "SpApiUnavailableError",
    "TokenBucket",
    "UsagePlan",
    "build_adapter",
    "build_adjustment_feed",
    "build_quantity_feed",
    "carrier_code",
    "from_orders_2026",
    "from_orders_v0",
    "load_credentials",
    "parse_returns_report",
    "read_adjustment_report",
    "read_catalog_csv",
    "read_processing_report",
    "run_adapter",
    "run_amazon_demo",
    "to_sortyard_order",
]

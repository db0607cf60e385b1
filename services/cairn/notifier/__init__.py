"""The notifier: tells subscribed teams about changes, by signed webhook.

It consumes the ledger's changelog (never the raw inputs), matches each applied change against
the subscriptions the ledger recorded in `config_items` (read only), POSTs a signed JSON or
Slack-compatible body to each matching target with retries and exponential backoff, and
reports every attempt on cairn.notifier.deliveries, which the ledger records as the delivery
log. A batch's offsets are committed only once each of its deliveries was delivered or dead.
"""

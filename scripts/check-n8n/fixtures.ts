/**
 * Per issue type: the opportunity the check sends, and the table its playbook's query reads,
 * with columns taken from that query and rows that satisfy its WHERE clause. Each table gets
 * exactly two rows the opportunity names in `affected_items`, plus a decoy the query must
 * skip — so "2 processed" proves the filter ran, not just that the table was small.
 */
export interface Fixture {
  description: string
  /** inside the playbook's "high" severity band, the severity the check sends */
  metricValue: number
  /** the ids (or, for error_spike, services; for revenue_drop, products) of the two seeded rows */
  affectedItems: [string, string]
  /** the setting that names the table */
  tableSetting: string
  createTable(table: string): string
  seed(table: string): string
}

export const FIXTURES: Record<string, Fixture> = {
  high_churn: {
    description: 'Churn rose to 8% this week',
    metricValue: 0.08,
    affectedItems: ['cust_1', 'cust_2'],
    tableSetting: 'customers_table',
    createTable: (t) => `CREATE TABLE ${t} (
      customer_id text PRIMARY KEY, name text, email text, product_name text, plan text,
      churn_score double precision, lifetime_value numeric(12,2), status text)`,
    // cust_3 would match too, but the opportunity does not name it
    seed: (t) => `INSERT INTO ${t} VALUES
      ('cust_1', 'Ada Lovelace', 'ada@example.com', 'Acme Analytics', 'Team', 0.82, 1450.00, 'active'),
      ('cust_2', 'Grace Hopper', 'grace@example.com', 'Acme CRM', 'Starter', 0.71, 320.00, 'active'),
      ('cust_3', 'Alan Turing', 'alan@example.com', 'Acme CRM', 'Starter', 0.95, 90.00, 'active')`,
  },
  abandoned_carts: {
    description: 'Cart abandonment reached 35% today',
    metricValue: 0.35,
    affectedItems: ['cart_1', 'cart_2'],
    tableSetting: 'carts_table',
    createTable: (t) => `CREATE TABLE ${t} (
      cart_id text PRIMARY KEY, customer_id text, email text, product_name text,
      cart_total numeric(10,2), status text, updated_at timestamptz)`,
    // cart_3 would match too, but the opportunity does not name it
    seed: (t) => `INSERT INTO ${t} VALUES
      ('cart_1', 'cust_11', 'lin@example.com', 'Trail Running Shoes', 89.00, 'abandoned', now() - interval '1 hour'),
      ('cart_2', 'cust_12', 'sam@example.com', 'Rain Jacket', 129.50, 'abandoned', now() - interval '2 hours'),
      ('cart_3', 'cust_13', 'kim@example.com', 'Wool Socks', 12.00, 'abandoned', now() - interval '3 hours')`,
  },
  error_spike: {
    description: 'Checkout and billing errors spiked to 4%',
    metricValue: 0.04,
    affectedItems: ['checkout-api', 'billing-api'],
    tableSetting: 'error_events_table',
    createTable: (t) => `CREATE TABLE ${t} (
      event_id serial PRIMARY KEY, user_id text, email text, error_type text, service text,
      monthly_bill numeric(10,2), occurred_at timestamptz)`,
    // usr_1 hit two errors, usr_2 one whose 15% credit (75.00) is capped by max_credit_amount;
    // usr_3's errors are in a service the opportunity does not name
    seed: (t) => `INSERT INTO ${t} (user_id, email, error_type, service, monthly_bill, occurred_at) VALUES
      ('usr_1', 'mia@example.com', 'timeout', 'checkout-api', 80.00, now() - interval '5 minutes'),
      ('usr_1', 'mia@example.com', 'timeout', 'checkout-api', 80.00, now() - interval '4 minutes'),
      ('usr_2', 'noah@example.com', 'http_500', 'billing-api', 500.00, now() - interval '10 minutes'),
      ('usr_3', 'eve@example.com', 'timeout', 'search-api', 30.00, now() - interval '5 minutes')`,
  },
  low_conversion: {
    description: 'Conversion on the pricing and checkout pages fell to 1.2%',
    metricValue: 0.012,
    affectedItems: ['page_pricing', 'page_checkout'],
    tableSetting: 'funnel_table',
    createTable: (t) => `CREATE TABLE ${t} (
      page_id text, product text, day date, visits integer, add_to_cart integer, checkouts integer, top_exit_reason text)`,
    // two days of page_pricing add up to one row; page_blog is not named
    seed: (t) => `INSERT INTO ${t} VALUES
      ('page_pricing', 'Acme Pro plan', current_date - 1, 1200, 90, 20, 'price unclear'),
      ('page_pricing', 'Acme Pro plan', current_date - 2, 1100, 80, 18, 'price unclear'),
      ('page_checkout', 'Acme Starter plan', current_date - 1, 900, 200, 15, 'too many form fields'),
      ('page_blog', 'Acme Blog', current_date - 1, 5000, 10, 1, 'not interested')`,
  },
  payment_failures: {
    description: 'Payment success fell to 76%',
    metricValue: 0.76,
    affectedItems: ['pay_1', 'pay_2'],
    tableSetting: 'payments_table',
    createTable: (t) => `CREATE TABLE ${t} (
      payment_id text PRIMARY KEY, customer_id text, email text, phone text, amount numeric(10,2), currency text,
      decline_code text, attempt_number integer, status text, created_at timestamptz)`,
    // pay_3 would match too, but the opportunity does not name it
    seed: (t) => `INSERT INTO ${t} VALUES
      ('pay_1', 'cust_21', 'ivy@example.com', '+15550000001', 49.00, 'EUR', 'insufficient_funds', 1, 'failed', now() - interval '3 hours'),
      ('pay_2', 'cust_22', 'leo@example.com', '+15550000002', 120.00, 'USD', 'issuer_unavailable', 2, 'failed', now() - interval '5 hours'),
      ('pay_3', 'cust_23', 'ann@example.com', '+15550000003', 15.00, 'EUR', 'try_again_later', 1, 'failed', now() - interval '6 hours')`,
  },
  revenue_drop: {
    description: 'Revenue of the Starter and Team plans fell 30%',
    metricValue: -0.3,
    affectedItems: ['Acme Starter', 'Acme Team'],
    tableSetting: 'subscriptions_table',
    createTable: (t) => `CREATE TABLE ${t} (
      customer_id text PRIMARY KEY, email text, current_product text, plan text, spend_90d numeric(10,2), status text)`,
    // cust_33 has a listed product but is no longer active; cust_34's product is not listed
    seed: (t) => `INSERT INTO ${t} VALUES
      ('cust_31', 'zoe@example.com', 'Acme Starter', 'monthly', 270.00, 'active'),
      ('cust_32', 'kai@example.com', 'Acme Team', 'annual', 1800.00, 'active'),
      ('cust_33', 'max@example.com', 'Acme Starter', 'monthly', 90.00, 'cancelled'),
      ('cust_34', 'uma@example.com', 'Acme Enterprise', 'annual', 9000.00, 'active')`,
  },
}

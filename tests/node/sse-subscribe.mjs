// Runs one subscription with the `graphql-sse` client (distinct connections mode) and prints
// every result it received as one JSON array, then whether it completed or failed.
// Arguments: URL, API key, query, variables (JSON).
import { createClient } from 'graphql-sse';

const [url, key, query, variables] = process.argv.slice(2);
const client = createClient({
  url,
  headers: { Authorization: `Bearer ${key}` },
  // A retried chat would send the message twice: fail instead.
  retryAttempts: 0,
});

const results = [];
let outcome;
try {
  for await (const result of client.iterate({ query, variables: JSON.parse(variables) })) {
    results.push(result);
  }
  outcome = { completed: true };
} catch (error) {
  outcome = { completed: false, error: String(error?.message ?? error) };
}
client.dispose();
console.log(JSON.stringify({ results, ...outcome }));

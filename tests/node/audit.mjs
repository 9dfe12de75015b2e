// The GraphQL over HTTP working group's server audit (the `graphql-http` package), run against
// the URL given as the first argument; prints one JSON array of {id, name, status, reason}.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
console.log(JSON.stringify(results.map(({ id, name, status, reason }) => ({ id, name, status, reason }))));

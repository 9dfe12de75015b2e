// GraphiQL with the API key kept outside its editors: entered once per tab (sessionStorage,
// shared with the chat page), kept on the device only when asked (localStorage), and sent as
// `Authorization` on HTTP and in the WebSocket's connection_init payload for subscriptions.
(() => {
  const KEY = 'assistant.apiKey';
  const url = new URL('/graphql', location.href).toString();
  const subscriptionUrl = url.replace(/^http/, 'ws');
  let apiKey = sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '';
  let fetcher = null;

  const makeFetcher = () => {
    const auth = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
    // Headers typed in GraphiQL's Headers tab are added on top (and win).
    return GraphiQL.createFetcher({ url, subscriptionUrl, headers: auth, wsConnectionParams: auth });
  };

  const status = document.getElementById('key-status');
  const input = document.getElementById('api-key');
  const remember = document.getElementById('remember-key');
  const show = () => {
    status.textContent = apiKey
      ? `Using a key (…${apiKey.slice(-4)})${localStorage.getItem(KEY) ? ', remembered on this device' : ', for this tab only'}.`
      : 'No key: only serverInfo and the schema are open.';
  };
  remember.checked = !!localStorage.getItem(KEY);
  document.getElementById('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    apiKey = input.value.trim() || apiKey;
    input.value = '';
    sessionStorage.setItem(KEY, apiKey);
    if (remember.checked) localStorage.setItem(KEY, apiKey);
    else localStorage.removeItem(KEY);
    fetcher = makeFetcher();
    show();
  });
  document.getElementById('forget-key').addEventListener('click', () => {
    apiKey = '';
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
    remember.checked = false;
    fetcher = makeFetcher();
    show();
  });
  fetcher = makeFetcher();
  show();

  const defaultQuery = `# Put your API key in the bar above, then run (Ctrl+Enter):
query Me {
  me { id displayName }
  conversations(first: 10) {
    edges { node { id title createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}

# Subscriptions stream here too, over the WebSocket:
# subscription { chat(input: {conversationId: "...", message: "Hello"}) {
#   __typename ... on ChatDelta { text } ... on ChatCompleted { message { status } } } }

# No key yet? The admin token (ADMIN_TOKEN, or the one the server printed at start)
# can create a user, whose first key comes back once:
# mutation { createUser(input: {displayName: "Ada"}) { user { id } apiKey } }
`;

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: (params, options) => fetcher(params, options),
      defaultQuery,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();

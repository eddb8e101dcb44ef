/** The sign-in form (local stack): the API token, posted to /dashboard/login. */
import type { FC } from 'hono/jsx';
import { BASE } from '../format.js';
import { Layout } from '../layout.js';

export const LoginPage: FC<{ next: string; refused?: string | undefined }> = ({ next, refused }) => (
  <Layout title="Sign in" signedIn={false}>
    <form class="login" method="post" action={`${BASE}/login`}>
      <h1>Sign in</h1>
      <p class="sub">The dashboard takes the API's token (REAPER_API_TOKEN; the local stack keeps it in .clawbox-reaper/api-token).</p>
      {refused ? (
        <p class="note bad" id="login-error" role="alert">
          {refused}
        </p>
      ) : null}
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required autofocus />
      <input type="hidden" name="next" value={next} />
      <button class="primary" type="submit">
        Sign in
      </button>
    </form>
  </Layout>
);

/** Any error as a page: the status and a message (text, escaped like everything else). */
export const ErrorPage: FC<{ status: number; message: string; signedIn: boolean }> = ({ status, message, signedIn }) => (
  <Layout title={`${status}`} signedIn={signedIn}>
    <h1>{status === 404 ? 'Not found' : status < 500 ? 'Not possible' : 'Something went wrong'}</h1>
    <p class="note bad" id="error-message">
      {message}
    </p>
    <p>
      <a href={BASE}>Back to the fleet</a>
    </p>
  </Layout>
);

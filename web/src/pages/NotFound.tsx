import { Page } from '../components/common';
import { Link } from '../router';

export function NotFound() {
  return (
    <Page title="Page not found">
      <p>
        There is no page here. <Link to="/">Go to the catalog</Link>.
      </p>
    </Page>
  );
}

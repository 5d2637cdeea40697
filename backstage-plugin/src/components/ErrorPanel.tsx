import { Alert, Button } from '@backstage/ui';
import { describeError } from '../lib/errors';

/** A failed call, in words, with an optional retry. */
export function GatekeyErrorPanel(props: { error: unknown; onRetry?: () => void }) {
  const { title, message } = describeError(props.error);
  return (
    <Alert
      status="danger"
      icon
      title={`Error: ${title}`}
      description={message}
      customActions={
        props.onRetry && (
          <Button variant="secondary" size="small" onPress={props.onRetry}>
            Retry
          </Button>
        )
      }
    />
  );
}

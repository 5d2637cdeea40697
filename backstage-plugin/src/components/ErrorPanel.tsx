import { WarningPanel } from '@backstage/core-components';
import Button from '@material-ui/core/Button';
import { describeError } from '../lib/errors';

/** A failed call, in words, with an optional retry. */
export function GatekeyErrorPanel(props: { error: unknown; onRetry?: () => void }) {
  const { title, message } = describeError(props.error);
  return (
    <WarningPanel severity="error" title={title} message={message} defaultExpanded>
      {props.onRetry && (
        <Button variant="outlined" size="small" onClick={props.onRetry}>
          Retry
        </Button>
      )}
    </WarningPanel>
  );
}

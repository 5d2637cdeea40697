/**
 * The icon of the "My API credentials" page: the new frontend system lists a page in the sidebar
 * only when it has one, and legacy apps pass it to their `SidebarItem`.
 */
import VpnKeyIcon from '@material-ui/icons/VpnKey';

/** A key, the sidebar icon of "My API credentials" (`<SidebarItem icon={GatekeyCredentialsIcon} />`). */
export function GatekeyCredentialsIcon(props: { fontSize?: 'inherit' | 'small' | 'medium' | 'large' }) {
  return <VpnKeyIcon fontSize={props.fontSize} />;
}

//! One declaration for every enum whose numbers are published (on the wire,
//! in the journal): the variants with their codes, and from them the list
//! of all variants, the code of a variant and the variant of a code. Before
//! this, each enum carried a hand-written table per direction, and a code
//! added to one table but not the other decoded as unknown.

/// Declares a fieldless enum with published codes:
///
/// ```ignore
/// wire_enum! {
///     /// Buy or sell.
///     pub enum Side: u8 (from_u8) {
///         Buy = 1,
///         Sell = 2,
///     }
/// }
/// ```
///
/// generates the enum (`Clone, Copy, Debug, PartialEq, Eq, Hash`,
/// `#[repr(u8)]`), `Side::ALL` (every variant, in declaration order),
/// `Side::code(self) -> u8` and `Side::from_u8(u8) -> Option<Side>`. A
/// repeated code does not compile (the enum's discriminants must differ).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ident ($from:ident) {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $code:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant = $code,
            )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The published code.
            #[inline]
            pub const fn code(self) -> $repr {
                self as $repr
            }

            /// The variant with this code; `None` for a code never published.
            #[inline]
            pub const fn $from(code: $repr) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        // Every variant's code maps back to it (checked by the compiler).
        const _: () = {
            let mut i = 0;
            while i < $name::ALL.len() {
                let code = $name::ALL[i] as $repr;
                assert!(matches!($name::$from(code), Some(v) if v as $repr == code));
                i += 1;
            }
        };
    };
}

pub(crate) use wire_enum;

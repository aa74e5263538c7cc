//! Writing a value in the format (see the module above).

use super::bulk;
use super::error::Error;
use crate::remote::segments::Sink;
use serde::ser::{self, Serialize};

pub(super) struct Serializer<'a> {
    pub(super) out: &'a mut Vec<u8>,
    /// Told of every sequence of plain numbers, which it may take as a segment.
    pub(super) sink: Option<&'a mut dyn Sink>,
}

impl<'a> Serializer<'a> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn length(&mut self, len: usize) {
        self.put(&(len as u64).to_le_bytes());
    }

    /// Starts a sequence or map: a count, written when it ends.
    fn counted<'s>(&'s mut self, len: Option<usize>) -> Counted<'s, 'a> {
        let at = self.out.len();
        self.length(0);
        if let Some(len) = len {
            // At least a byte per element (fewer is refused at the end); the value is in
            // memory already, so this reserves no more than its own size.
            self.out.reserve(len);
        }
        Counted { ser: self, at, count: 0 }
    }
}

/// A sequence or map being written: its count goes at `at` when it ends.
pub(super) struct Counted<'s, 'a> {
    ser: &'s mut Serializer<'a>,
    at: usize,
    count: u64,
}

impl Counted<'_, '_> {
    fn end(self) -> Result<(), Error> {
        let body = (self.ser.out.len() - self.at - 8) as u64;
        if self.count > body {
            // The reader bounds a count by the bytes left: values that take no bytes cannot travel.
            return Err(Error(format!("a sequence of {} values in {body} bytes cannot travel", self.count)));
        }
        self.ser.out[self.at..self.at + 8].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }
}

macro_rules! fixed {
    ($($method:ident: $t:ty),*) => {$(
        #[inline(always)]
        fn $method(self, v: $t) -> Result<(), Error> {
            self.put(&v.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'s, 'a> ser::Serializer for &'s mut Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Counted<'s, 'a>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'s, 'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fixed!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128);
    fixed!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    fixed!(serialize_f32: f32, serialize_f64: f64);

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.put(&[u8::from(v)]);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_u32(u32::from(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.length(v.len());
        self.put(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.put(&[0]);
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        self.put(&[1]);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result<(), Error> {
        self.serialize_u32(index)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.put(&index.to_le_bytes());
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'s, 'a>, Error> {
        Ok(self.counted(len))
    }
    /// What serde's `Vec<T>` and `[T]` (so `Box<[T]>`) call: plain numbers in one copy (see
    /// `bulk`), anything else element by element as serde's default does.
    fn collect_seq<I>(self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if bulk::write(self.out, &iter, self.sink.as_deref_mut())? {
            return Ok(());
        }
        let mut iter = iter.into_iter();
        let len = match iter.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let mut seq = self.serialize_seq(len)?;
        iter.try_for_each(|item| ser::SerializeSeq::serialize_element(&mut seq, &item))?;
        ser::SerializeSeq::end(seq)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Error> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Error> {
        self.put(&index.to_le_bytes());
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'s, 'a>, Error> {
        Ok(self.counted(len))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Error> {
        // The same form: its index, then its fields in order.
        self.serialize_tuple_variant(name, index, variant, len)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl ser::SerializeSeq for Counted<'_, '_> {
    type Ok = ();
    type Error = Error;
    #[inline(always)]
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.count += 1;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        Counted::end(self)
    }
}

impl ser::SerializeMap for Counted<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.count += 1;
        key.serialize(&mut *self.ser)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        Counted::end(self)
    }
}

/// Tuples, structs and variants: their fields in order, nothing around them.
macro_rules! fields {
    ($($trait:ident :: $method:ident $(($key:ty))?),*) => {$(
        impl ser::$trait for &mut Serializer<'_> {
            type Ok = ();
            type Error = Error;
            #[inline(always)]
            fn $method<T: ?Sized + Serialize>(&mut self, $(_: $key,)? value: &T) -> Result<(), Error> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}
fields!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
    SerializeStruct::serialize_field(&'static str),
    SerializeStructVariant::serialize_field(&'static str)
);
